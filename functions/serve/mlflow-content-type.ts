// Apart from mlflow-routes.ts (express): the predict fast path reads them without loading express (issue 16).

const SCORING_PROTOCOL_CHANGE_INFO =
  "IMPORTANT: The MLflow Model scoring protocol has changed in MLflow version 2.0. If you are seeing this error, you are likely using an outdated scoring request format. To resolve the error, either update your request format or adjust your MLflow Model's requirements file to specify an older version of MLflow (for example, change the 'mlflow' requirement specifier to 'mlflow==1.30.0'). If you are making a request using the MLflow client (e.g. via `mlflow.pyfunc.spark_udf()`), upgrade your MLflow client to a version >= 2.0 in order to use the new request format. For more information about the updated MLflow Model scoring protocol in MLflow 2.0, see https://mlflow.org/docs/latest/models.html#deploy-mlflow-models.";

/** MLflow's verdict on a request's Content-Type: the body's format, or the text of the 415 that refuses it. */
export type ContentTypeVerdict = { format: 'json' | 'csv'; refusal: null } | { format: null; refusal: string };

/** Distinct Content-Type headers whose verdict is kept (clients send a few; the rest are judged each time). */
const MAX_KEPT_VERDICTS = 64;
const verdicts = new Map<string | undefined, ContentTypeVerdict>();

/**
 * {@link checkContentType} and {@link scoringFormat} of a header, kept per header text: the rules split, trim and
 * build a Map per call, which cost the main thread ~3% of its time per dense request (issue 16's profile).
 */
export function contentTypeVerdict(header: string | undefined): ContentTypeVerdict {
  let verdict = verdicts.get(header);
  if (verdict === undefined) {
    const refusal = checkContentType(header);
    verdict = refusal === null ? { format: scoringFormat(header!), refusal: null } : { format: null, refusal };
    if (verdicts.size < MAX_KEPT_VERDICTS) verdicts.set(header, verdict);
  }
  return verdict;
}

/**
 * MLflow's content-type rules: json or csv, charset utf-8 only, no other parameters.
 * @returns why the type is refused (the 415's text), or null when it is accepted
 */
function checkContentType(header: string | undefined): string | null {
  // MLflow answers a missing Content-Type with a 500 (it splits None); a 415 says what to send instead
  if (!header)
    return "This predictor only supports the following content types: Types: ['text/csv', 'application/json']. Got 'None'.";
  const [, ...pairs] = header.split(';').map((p) => p.trim());
  const parameters = new Map(
    pairs.filter(Boolean).map((p) => [p.split('=')[0]!.trim().toLowerCase(), p.split('=').slice(1).join('=').trim()]),
  );
  const charset = (parameters.get('charset') ?? 'utf-8').replace(/^"|"$/g, '').toLowerCase();
  if (charset !== 'utf-8') return 'The scoring server only supports UTF-8';
  parameters.delete('charset');
  if (parameters.size > 0)
    return `Unrecognized content type parameters: ${[...parameters.keys()].join(', ')}. ${SCORING_PROTOCOL_CHANGE_INFO}`;
  const type = mediaType(header);
  if (type !== 'application/json' && type !== 'text/csv') {
    return `This predictor only supports the following content types: Types: ['text/csv', 'application/json']. Got '${header}'.`;
  }
  return null;
}

/** The request's format by its (accepted) Content-Type. */
function scoringFormat(header: string): 'json' | 'csv' {
  return mediaType(header) === 'text/csv' ? 'csv' : 'json';
}

function mediaType(header: string): string {
  return header.split(';')[0]!.trim().toLowerCase();
}
