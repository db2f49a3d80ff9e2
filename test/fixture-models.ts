import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The integration tests' own MLflow model folders (test/fixtures/models; built by test/fixtures/*.py). */
export const FIXTURE_MODELS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'models');
