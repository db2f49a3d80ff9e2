import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { readMlflowPeer, type MlflowFixtures } from '../testkit/peers/mlflow.js';
import { startMlflowModelsServe, type MlflowModelsServe } from '../testkit/peers/mlflow-serve.js';
import { readPeers } from '../testkit/peers/peer-run.js';

const mlflow = readMlflowPeer();

function basic(username: string, password: string): Record<string, string> {
  return { authorization: `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}` };
}

async function getJson<T>(url: string, init: RequestInit = {}): Promise<T> {
  const res = await fetch(url, init);
  if (!res.ok) throw new Error(`${init.method ?? 'GET'} ${url} answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as T;
}

interface ModelVersion {
  version: string;
  current_stage: string;
  source: string;
}

/** The registry round trip a fetch does, against one server, with optional credentials. */
function describeRegistry(name: string, base: string, models: MlflowFixtures, headers: Record<string, string>): void {
  const api = `${base}/api/2.0/mlflow`;
  const iris = models.iris;
  const byVersion = (v: string) => iris.versions.find((mv) => mv.version === v)!;

  describe(`${name} registry`, () => {
    it('answers the latest Production version, case-insensitively, and the latest of all', async () => {
      const production = await getJson<{ model_versions: ModelVersion[] }>(
        `${api}/registered-models/get-latest-versions`,
        {
          method: 'POST',
          headers: { ...headers, 'content-type': 'application/json' },
          body: JSON.stringify({ name: iris.name, stages: ['production'] }),
        },
      );
      expect(production.model_versions.map((v) => v.version)).toEqual([iris.stages.Production]);
      const all = await getJson<{ model_versions: ModelVersion[] }>(`${api}/registered-models/get-latest-versions`, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body: JSON.stringify({ name: iris.name }),
      });
      const highest = Math.max(...all.model_versions.map((v) => Number(v.version)));
      expect(String(highest)).toBe(iris.latest);
      expect(iris.versions.map((v) => v.version)).toEqual(['1', '2', '3']);
    });

    it('resolves the champion alias to its version and that version to its artifacts', async () => {
      const alias = await getJson<{ model_version: ModelVersion }>(
        `${api}/registered-models/alias?name=${iris.name}&alias=champion`,
        { headers },
      );
      expect(alias.model_version.version).toBe(iris.aliases.champion);
      const champion = byVersion(alias.model_version.version);
      expect(alias.model_version.source).toBe(`models:/${champion.modelId}`);
      const download = await getJson<{ artifact_uri: string }>(
        `${api}/model-versions/get-download-uri?name=${iris.name}&version=${champion.version}`,
        { headers },
      );
      expect(download.artifact_uri).toBe(champion.artifactUri);
    });

    it('lists and downloads the model files through the artifact proxy, as downloaded by MLflow', async () => {
      const version = byVersion(iris.latest);
      const artifacts = `${base}/api/2.0/mlflow-artifacts/artifacts`;
      const listing = await getJson<{ files: { path: string; is_dir: boolean }[] }>(
        `${artifacts}?path=${encodeURIComponent(version.artifactPath)}`,
        { headers },
      );
      expect(listing.files.map((f) => f.path).sort()).toEqual(version.files.filter((f) => !f.includes('/')));
      for (const file of ['MLmodel', 'model.onnx']) {
        const res = await fetch(`${artifacts}/${version.artifactPath}/${file}`, { headers });
        expect(res.status).toBe(200);
        const served = Buffer.from(await res.arrayBuffer());
        expect(served.equals(await readFile(path.join(version.localPath, file)))).toBe(true);
      }
    });

    it('serves the MLflow 3 logged model and the run-artifact model where the fixtures say', async () => {
      const logged = await getJson<{ model: { info: { artifact_uri: string; model_id: string } } }>(
        `${api}/logged-models/${models.loggedModel.modelId}`,
        { headers },
      );
      expect(logged.model.info.artifact_uri).toBe(models.loggedModel.artifactUri);
      const run = await getJson<{ run: { info: { artifact_uri: string } } }>(
        `${api}/runs/get?run_id=${models.runArtifact.runId}`,
        { headers },
      );
      expect(`${run.run.info.artifact_uri}/${models.runArtifact.path}`).toBe(models.runArtifact.artifactUri);
    });

    it('keeps the external ONNX weights beside model.onnx', async () => {
      const ext = models.external;
      expect(ext.externalDataFiles.length).toBeGreaterThan(0);
      const res = await fetch(
        `${base}/api/2.0/mlflow-artifacts/artifacts/${ext.artifactPath}/${ext.externalDataFiles[0]}`,
        {
          headers,
        },
      );
      expect(res.status).toBe(200);
      // 4x128 + 128x3 float32 weights at least
      expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(3000);
    });
  });
}

describe('MLflow peer', () => {
  it('gives each iris-onnx version its own model.onnx, so resolving the wrong version shows', async () => {
    const bytes = await Promise.all(
      mlflow.models.iris.versions.map((v) => readFile(path.join(v.localPath, 'model.onnx'), 'base64')),
    );
    expect(new Set(bytes).size).toBe(3);
  });

  it('publishes a saved input example and a tensor signature in every MLmodel', async () => {
    const mlmodel = await readFile(path.join(mlflow.models.iris.versions[0]!.localPath, 'MLmodel'), 'utf8');
    expect(mlmodel).toMatch(/^signature:/m);
    expect(mlmodel).toMatch(/serving_input_path: serving_input_example.json/);
    expect(mlmodel).toMatch(/^ {2}onnx:/m);
  });
});

describeRegistry('plain server', mlflow.url, mlflow.models, {});
describeRegistry(
  'basic-auth server (non-admin user)',
  mlflow.authUrl,
  mlflow.authModels,
  basic(mlflow.username, mlflow.password),
);

describe('basic-auth server', () => {
  const url = `${mlflow.authUrl}/api/2.0/mlflow/registered-models/get?name=iris-onnx`;

  it('accepts the test user with the right password', async () => {
    const res = await fetch(url, { headers: basic(mlflow.username, mlflow.password) });
    expect(res.status).toBe(200);
  });

  it('refuses a wrong password and a missing one with 401', async () => {
    const wrong = await fetch(url, { headers: basic(mlflow.username, `${mlflow.password}x`) });
    expect(wrong.status).toBe(401);
    const none = await fetch(url);
    expect(none.status).toBe(401);
  });

  it('refuses the denied model to the test user with 403 and serves it to the admin', async () => {
    const { name, version } = mlflow.deniedModel;
    const uri = `${mlflow.authUrl}/api/2.0/mlflow/model-versions/get-download-uri?name=${name}&version=${version}`;
    const user = await fetch(uri, { headers: basic(mlflow.username, mlflow.password) });
    expect(user.status).toBe(403);
    const admin = await fetch(uri, { headers: basic(mlflow.adminUsername, mlflow.adminPassword) });
    expect(admin.status).toBe(200);
    expect(((await admin.json()) as { artifact_uri: string }).artifact_uri).toBe(
      mlflow.authModels.iris.versions[0]!.artifactUri,
    );
  });

  it('refuses a write by the read-only test user with 403', async () => {
    const res = await fetch(`${mlflow.authUrl}/api/2.0/mlflow/registered-models/delete`, {
      method: 'DELETE',
      headers: { ...basic(mlflow.username, mlflow.password), 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'iris-onnx' }),
    });
    expect(res.status).toBe(403);
  });
});

describe('mlflow models serve', () => {
  let served: MlflowModelsServe;

  beforeAll(async () => {
    served = await startMlflowModelsServe({ runDir: readPeers().runDir, modelPath: mlflow.models.external.localPath });
    // visible in the test output: the figure to compare our cold start with
    console.log(`mlflow models serve ready in ${served.startupMs} ms`);
  });
  afterAll(async () => served.stop());

  it('answers the saved serving input example of the external-data model with named tensor outputs', async () => {
    const body = await readFile(path.join(mlflow.models.external.localPath, 'serving_input_example.json'), 'utf8');
    const res = await fetch(`${served.url}/invocations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    expect(res.status).toBe(200);
    const { predictions } = (await res.json()) as { predictions: { label: number[]; probabilities: number[][] } };
    // the first iris rows are all setosa (class 0)
    expect(predictions.label).toEqual([0, 0, 0]);
    expect(predictions.probabilities).toHaveLength(3);
    expect(predictions.probabilities[0]!.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
  });

  it('stops: the port no longer answers', async () => {
    await served.stop();
    await expect(fetch(`${served.url}/ping`)).rejects.toThrow();
  });
});
