import { z } from 'zod';

/**
 * `HF_ENDPOINT` and `HF_TOKEN` as huggingface_hub reads them: the one definition the warm, agent and fetch env
 * schemas spread in. `HF_ENDPOINT` is a URL, the public Hub by default, without its trailing slash (request URLs
 * are `${hubUrl}/api/…`).
 */
export const HubEnv = {
  HF_ENDPOINT: z
    .url()
    .default('https://huggingface.co')
    .transform((endpoint) => endpoint.replace(/\/+$/, '')),
  HF_TOKEN: z.string().min(1).optional(),
};
