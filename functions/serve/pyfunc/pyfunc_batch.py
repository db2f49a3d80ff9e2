"""Adaptive batching in the pyfunc worker (SERVE_PYFUNC_BATCHING=rows): the requests the Node front end merged
into one frame are parsed one by one with MLflow's own parsers, the rows of those that agree (same kind of input,
same columns and dtypes, same params) are scored in ONE model.predict call, and the prediction is split back by
rows and formatted per request, as MLServer's adaptive batching does.

Only correct for a model that scores each row on its own: that is why the operator opts in. Whatever cannot be
merged safely runs alone, through the unbatched path: an input that is not a DataFrame or an array, a DataFrame
with an index of its own, a prediction that does not have one row per input row. A merged predict that raises
is run again per request, so each request gets the answer or the error it would get alone.
"""

from io import StringIO
import json

# SERVE_PYFUNC_BATCHING=auto: the pyfunc loaders whose predict scores each row on its own (with these predict
# functions; None: any), so that requests merged into one call get the answers they would get alone.
# mlflow.sklearn's estimators predict row by row (a Pipeline of fitted steps too; a FunctionTransformer that
# looks across rows would not: SERVE_PYFUNC_BATCHING=off for such a model), as do XGBoost's and LightGBM's.
# A custom PythonModel (mlflow.pyfunc.model) may do anything with its input: never batched unless the operator
# says so (SERVE_PYFUNC_BATCHING=rows).
ROW_WISE_LOADERS = {
    "mlflow.sklearn": {"predict", "predict_proba", "predict_log_proba", "predict_joint_log_proba"},
    "mlflow.xgboost": None,
    "mlflow.lightgbm": None,
}


def batches_by_default(metadata):
    """Whether SERVE_PYFUNC_BATCHING=auto batches this model: a row-wise loader (ROW_WISE_LOADERS) and a
    signature with a batch dimension (named or unnamed columns: a DataFrame has rows; tensors: -1 first)."""
    conf = metadata.flavors.get("python_function") or {}
    loader = conf.get("loader_module")
    if loader not in ROW_WISE_LOADERS:
        return False
    functions = ROW_WISE_LOADERS[loader]
    if functions is not None and conf.get("predict_fn", "predict") not in functions:
        return False
    schema = metadata.get_input_schema()
    if schema is None:
        return False
    if schema.is_tensor_spec():
        return all(len(spec.shape) >= 1 and spec.shape[0] == -1 for spec in schema.inputs)
    return True


class Captured(BaseException):
    """Carries the parsed input out of MLflow's invocations() (a BaseException: its `except Exception` lets it by)."""

    def __init__(self, data, params):
        super().__init__()
        self.data = data
        self.params = params


class CaptureWithParams:
    def __init__(self, metadata):
        self.metadata = metadata

    def predict(self, data, params=None):
        raise Captured(data, params)


class CaptureWithoutParams:
    def __init__(self, metadata):
        self.metadata = metadata

    def predict(self, data):
        raise Captured(data, None)


class Parsed:
    """One request of a batch, parsed: the model's input (a DataFrame or an array: other inputs are never taken
    apart from the unbatched path), its params, and how its prediction becomes its answer."""

    def __init__(self, data, params, finish):
        self.data = data
        self.params = params
        self.finish = finish
        self.rows = len(data)


def parsed_or_none(data, params, finish):
    import numpy as np
    import pandas as pd

    if isinstance(data, pd.DataFrame) or (isinstance(data, np.ndarray) and data.ndim >= 1):
        return Parsed(data, params, finish)
    return None


def score_batch(worker, items, raw_floats=False):
    """Scores the (header, body) pairs of one batch frame: one (status, result, rows) per item, in order.
    `raw_floats`: the front end formats float predictions itself (a 200's result may then be a FloatRows)."""
    if len(items) == 1:
        status, result = worker.answer_safely(*items[0])
        return [(status, result, None)]
    answers = [None] * len(items)
    rest = score_merged_json(worker, items, answers, raw_floats)
    groups = {}
    for i in rest:
        header, body = items[i]
        parsed = parse(worker, header, body)
        key = merge_key(parsed) if parsed is not None else None
        if key is None:
            # not mergeable, or refused: answered alone (a refusal by the unbatched path, in MLflow's words)
            answers[i] = alone(worker, header, body, parsed)
        else:
            groups.setdefault(key, []).append((i, parsed))
    for members in groups.values():
        for i, answer in score_group(worker, items, members):
            answers[i] = answer
    return answers


def parse(worker, header, body):
    """The request as a Parsed, or None when it is refused or its protocol is not batched."""
    try:
        protocol = header.get("protocol")
        if protocol == "mlflow":
            return parse_mlflow(worker, header, body)
        if protocol == "oip-v2":
            return parsed_or_none(*worker.v2_parse(header, body))
        if protocol == "kserve-v1":
            return parsed_or_none(*worker.v1_parse(body))
    except Exception:
        return None  # the unbatched path gives it its refusal
    return None


def parse_mlflow(worker, header, body):
    """MLflow's own invocations() up to model.predict (content type checks, JSON/CSV parsing, schema casts)."""
    from mlflow.pyfunc.scoring_server import predictions_to_json

    capture = (CaptureWithParams if worker.takes_params else CaptureWithoutParams)(worker.model.metadata)
    try:
        worker.scoring.invocations(body, header.get("contentType", "application/json"), capture, worker.input_schema)
    except Captured as c:

        def finish(prediction):
            out = StringIO()
            predictions_to_json(prediction, out)
            return out.getvalue().encode("utf-8")

        # a DataFrame or an array was not unified LLM input (answered unwrapped): predictions_to_json is right
        return parsed_or_none(c.data, c.params, finish)
    return None  # refused before predict (415, ...)


def merge_key(parsed):
    """What requests must share to be scored in one call; None for an input that is never merged."""
    import numpy as np
    import pandas as pd

    try:
        params = json.dumps(parsed.params, sort_keys=True)
    except (TypeError, ValueError):
        return None
    data = parsed.data
    if parsed.rows == 0:
        return None
    if isinstance(data, pd.DataFrame):
        # a default index only: the model then sees 0..n-1 in a merged frame as it would alone, shifted
        if not isinstance(data.index, pd.RangeIndex) or data.index.start != 0 or data.index.step != 1:
            return None
        if not all(isinstance(c, str) for c in data.columns):
            return None
        return ("frame", tuple(data.columns), tuple(str(t) for t in data.dtypes), params)
    if isinstance(data, np.ndarray) and data.ndim >= 1 and data.dtype != object:
        return ("array", data.dtype.str, data.shape[1:], params)
    return None


def score_group(worker, items, members):
    """One predict for the rows of every member, split back; members that cannot be served so are run alone."""
    if len(members) == 1:
        i, parsed = members[0]
        return [(i, alone(worker, *items[i], parsed))]
    import numpy as np
    import pandas as pd

    first = members[0][1]
    datas = [p.data for _, p in members]
    merged = pd.concat(datas, ignore_index=True) if isinstance(first.data, pd.DataFrame) else np.concatenate(datas)
    try:
        parts = split_rows(worker.call_predict(merged, first.params), [p.rows for _, p in members])
    except Exception:
        parts = None
    if parts is None:
        return [(i, alone(worker, *items[i], parsed)) for i, parsed in members]
    answers = []
    for (i, parsed), part in zip(members, parts):
        try:
            answers.append((i, (200, parsed.finish(part), parsed.rows)))
        except Exception:
            answers.append((i, alone(worker, *items[i], parsed)))
    return answers


def alone(worker, header, body, parsed):
    """A request scored on its own: from its parsed input when it has one (else, or on failure, the whole
    unbatched path, so that an error is MLflow's own)."""
    rows = parsed.rows if parsed is not None else None
    if parsed is not None:
        try:
            return 200, parsed.finish(worker.call_predict(parsed.data, parsed.params)), rows
        except Exception:
            pass
    status, result = worker.answer_safely(header, body)
    return status, result, rows


def split_rows(prediction, counts):
    """The prediction cut into one part per request (`counts` rows each), or None when it is not row by row."""
    import numpy as np
    import pandas as pd

    total = sum(counts)
    bounds = []
    at = 0
    for n in counts:
        bounds.append((at, at + n))
        at += n
    if isinstance(prediction, (pd.DataFrame, pd.Series)):
        if len(prediction) != total:
            return None
        return [prediction.iloc[a:b].reset_index(drop=True) for a, b in bounds]
    if isinstance(prediction, np.ndarray):
        if prediction.ndim == 0 or prediction.shape[0] != total:
            return None
        return [prediction[a:b] for a, b in bounds]
    if isinstance(prediction, list):
        return [prediction[a:b] for a, b in bounds] if len(prediction) == total else None
    return None


# The common case parsed once for a whole group: MLflow JSON `dataframe_split` (no index) or `dataframe_records`
# bodies, for a model whose signature has named columns of scalar types only. Each column's values must be of one
# JSON type (all floats, all integers, all strings or all booleans) in every request: pandas then infers the same
# dtype for each request's rows as for the merged rows, and MLflow's casts to the schema go value by value, so
# MLflow's parser run once on the merged rows gives each request's frame, stacked. One exception: a `double`
# column may hold integers and floats, in one request or across them (JSON.stringify writes 2.0 as 2), when
# every integer is within +-2**53: alone, an all-integer column is int64 and MLflow casts it to float64; merged
# with floats, pandas makes it float64 at once; both convert each integer exactly. Anything else is parsed per
# request (score_batch), as is every request of a group whose merged parse or predict fails.
SCALAR_TYPES = {"double", "float", "long", "integer", "boolean", "string"}
JSON_SCALARS = (float, int, str, bool)
INT64 = 1 << 63
EXACT_IN_DOUBLE = 1 << 53
NUMBER = "number"


def merges_json(worker):
    """Whether the model's signature allows the merged parse (cached on the worker)."""
    cached = getattr(worker, "_merges_json", None)
    if cached is None:
        schema = worker.input_schema
        from_hint = getattr(worker.model.metadata, "_is_signature_from_type_hint", lambda: False)()
        cached = (
            schema is not None
            and not from_hint
            and schema.has_input_names()
            and not schema.is_tensor_spec()
            and all(getattr(t, "name", None) in SCALAR_TYPES for t in schema.input_types())
        )
        worker._merges_json = cached
        worker._double_columns = (
            frozenset(n for n, t in zip(schema.input_names(), schema.input_types()) if t.name == "double")
            if cached
            else frozenset()
        )
    return cached


def is_plain_json(content_type):
    parts = [p.strip() for p in content_type.split(";")]
    if parts[0] != "application/json":
        return False
    extra = [p.partition("=") for p in parts[1:]]
    return all(k == "charset" and v.lower() == "utf-8" for k, _, v in extra)


def column_types(columns, rows, doubles=frozenset()):
    """One JSON type per column over `rows` (lists of values, in `columns` order), or None when mixed; a column
    named in `doubles` (the signature's double columns) of integers within +-2**53 and/or floats is NUMBER.
    Column by column: zip, set and map loop in C."""
    width = len(columns)
    # every row a list of `width` values (set and map in C: a generator here was 40% of this function)
    if rows and (set(map(type, rows)) != {list} or set(map(len, rows)) != {width}):
        return None
    types = []
    for name, column in zip(columns, zip(*rows)):
        kinds = set(map(type, column))
        if name in doubles and kinds <= {int, float}:
            # the whole column within +-2**53 (min and max in C) holds its integers within; else look at them alone
            if int in kinds and not (-EXACT_IN_DOUBLE <= min(column) and max(column) <= EXACT_IN_DOUBLE):
                ints = [v for v in column if type(v) is int]
                if not (-EXACT_IN_DOUBLE <= min(ints) and max(ints) <= EXACT_IN_DOUBLE):
                    return None
            types.append(NUMBER)
            continue
        if len(kinds) != 1:
            return None
        (kind,) = kinds
        if kind not in JSON_SCALARS or (kind is int and not (-INT64 <= min(column) and max(column) < INT64)):
            return None
        types.append(kind)
    return tuple(types) if rows else (None,) * width


def json_rows(doc):
    """(columns, rows as value lists, params) of a mergeable body, or None."""
    if not isinstance(doc, dict) or not set(doc) - {"params"}:
        return None
    keys = set(doc) - {"params"}
    if keys == {"dataframe_split"}:
        split = doc["dataframe_split"]
        if not isinstance(split, dict) or set(split) != {"columns", "data"}:
            return None
        columns, rows = split["columns"], split["data"]
        if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
            return None
        if not isinstance(rows, list) or not rows or len(set(columns)) != len(columns):
            return None
        return tuple(columns), rows, doc.get("params")
    if keys == {"dataframe_records"}:
        records = doc["dataframe_records"]
        if not isinstance(records, list) or not records or not isinstance(records[0], dict):
            return None
        columns = tuple(records[0])
        rows = []
        for r in records:
            if not isinstance(r, dict) or tuple(r) != columns:
                return None
            rows.append(list(r.values()))
        return columns, rows, doc.get("params")
    return None


def score_merged_json(worker, items, answers, raw_floats=False):
    """Answers the requests that can be parsed and scored merged (into `answers`); returns the other indices."""
    if not merges_json(worker):
        return list(range(len(items)))
    groups, rest = {}, []
    for i, (header, body) in enumerate(items):
        found = None
        if header.get("protocol") == "mlflow" and is_plain_json(header.get("contentType", "application/json")):
            try:
                found = json_rows(json.loads(body))
            except ValueError:
                found = None
        types = column_types(found[0], found[1], worker._double_columns) if found is not None else None
        try:
            params = json.dumps(found[2], sort_keys=True) if found is not None else None
        except (TypeError, ValueError):
            types = None
        if types is None:
            rest.append(i)
            continue
        groups.setdefault((found[0], types, params), []).append((i, found[1], found[2]))
    for (columns, _types, _params), members in groups.items():
        if len(members) < 2 or not score_json_group(worker, columns, members, answers, raw_floats):
            rest.extend(i for i, _, _ in members)
    return sorted(rest)


def score_json_group(worker, columns, members, answers, raw_floats=False):
    """MLflow's parser and one predict for the rows of every member; False (nothing answered) on any failure."""
    from mlflow.pyfunc.scoring_server import infer_and_parse_data

    rows = [row for _, member_rows, _ in members for row in member_rows]
    params = members[0][2]
    try:
        frame = infer_and_parse_data({"dataframe_split": {"columns": list(columns), "data": rows}}, worker.input_schema)
        parts = split_rows(worker.call_predict(frame, params), [len(r) for _, r, _ in members])
        if parts is None:
            return False
        bodies = [(float_rows(part) if raw_floats else None) or json_predictions(part) for part in parts]
    except Exception:
        return False
    for (i, member_rows, _), body in zip(members, bodies):
        answers[i] = (200, body, len(member_rows))
    return True


def json_predictions(prediction):
    from mlflow.pyfunc.scoring_server import predictions_to_json

    out = StringIO()
    predictions_to_json(prediction, out)
    return out.getvalue().encode("utf-8")


class FloatRows:
    """A float prediction's values for the front end to write as MLflow would (python-json-floats.ts): what
    predictions_to_json writes for an ndarray of one or two dimensions is {"predictions": ndarray.tolist()}, and
    each float of it is float.__repr__ of its float64 value (float32 values widen exactly)."""

    def __init__(self, shape, data):
        self.shape = shape
        self.data = data


def float_rows(prediction):
    """The prediction as FloatRows, or None when it is not a float ndarray of one or two dimensions."""
    import numpy as np

    if not isinstance(prediction, np.ndarray) or prediction.dtype not in (np.float64, np.float32):
        return None
    if prediction.ndim not in (1, 2):
        return None
    return FloatRows(list(prediction.shape), np.ascontiguousarray(prediction, dtype=np.float64).tobytes())
