import { describe, expect, it } from '@jest/globals';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import AjvDraft04 from 'ajv-draft-04';
import AjvFormats from 'ajv-formats';
import { parse } from 'yaml';

/**
 * Every Knative Functions descriptor (functions/<role>/func.yaml) against knative/func's own JSON schema
 * (draft-04), kept verbatim in ../shared/knative/func_yaml-schema.json.
 */

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const schemaFile = path.resolve(repoRoot, '../shared/knative/func_yaml-schema.json');
const funcFiles = readdirSync(path.join(repoRoot, 'functions'))
  .map((role) => path.join('functions', role, 'func.yaml'))
  .filter((file) => existsSync(path.join(repoRoot, file)));

// CommonJS packages: their `default` export is the class / plugin under both Node ESM and TypeScript
const Ajv = AjvDraft04.default;
const addFormats = AjvFormats.default;

function validator(): (data: unknown) => string[] {
  const ajv = new Ajv({ allErrors: true, strict: false });
  // the schema checks `created` as date-time
  addFormats(ajv);
  const validate = ajv.compile(JSON.parse(readFileSync(schemaFile, 'utf8')) as object);
  return (data) =>
    validate(data) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`);
}

describe('func.yaml', () => {
  it('exists for warm and cleanup (the roles deployed with `func deploy`)', () => {
    expect(funcFiles).toEqual(expect.arrayContaining(['functions/warm/func.yaml', 'functions/cleanup/func.yaml']));
  });

  it('rejects a descriptor that breaks the schema (the validator is live)', () => {
    expect(
      validator()({
        specVersion: '0.36.0',
        name: 'x',
        runtime: 'node',
        created: '2026-01-01T00:00:00Z',
        run: { envs: 'A=1' },
      }),
    ).toEqual(['/run/envs must be array']);
    expect(validator()({ specVersion: '0.36.0', name: 'x', runtime: 'node', created: 'yesterday' })).toEqual([
      '/created must match format "date-time"',
    ]);
    // and, on the real descriptor, what the schema forbids besides: an unknown key, a name that is no DNS label
    const warm = parse(readFileSync(path.join(repoRoot, 'functions/warm/func.yaml'), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(validator()(warm)).toEqual([]);
    expect(validator()({ ...warm, colour: 'blue' })).not.toEqual([]);
    expect(validator()({ ...warm, name: 'Not_A_DNS_Name' })).not.toEqual([]);
  });

  it.each(funcFiles)('%s matches the func.yaml schema', (file) => {
    const data = parse(readFileSync(path.join(repoRoot, file), 'utf8')) as unknown;
    expect({ file, errors: validator()(data) }).toEqual({ file, errors: [] });
  });

  it.each(funcFiles)('%s keeps credentials in Secret references', (file) => {
    const data = parse(readFileSync(path.join(repoRoot, file), 'utf8')) as {
      run?: { envs?: { name: string; value?: string }[] };
    };
    for (const env of data.run?.envs ?? []) {
      if (/TOKEN|PASSWORD|SECRET/.test(env.name))
        expect({ name: env.name, value: env.value }).toEqual({
          name: env.name,
          value: expect.stringMatching(/^\{\{ secret:[^}]+ \}\}$/),
        });
    }
  });
});
