// Shared by the client tests: where the server is and how to call it without
// a client library (the reference the clients' answers are compared with).
import assert from 'node:assert/strict';

// Set by run_clients_test.sh: QUARRY_URL=http://127.0.0.1:PORT, QUARRY_MODEL
// (the embedding model's id, loaded with --dimensions-model), QUARRY_DIM.
export const baseUrl = requireEnv('QUARRY_URL');
export const modelId = requireEnv('QUARRY_MODEL');
export const modelDim = Number(requireEnv('QUARRY_DIM'));

function requireEnv(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: run these tests through tests/clients/run_clients_test.sh`);
  }
  return value;
}

// POST/GET/PUT with a JSON body over plain fetch; returns {status, body}.
export async function raw(method, path, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['content-type'] = 'application/json';
  }
  const response = await fetch(baseUrl + path, init);
  const text = await response.text();
  let parsed = null;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = text;
  }
  return { status: response.status, body: parsed };
}

// Little-endian float32 values from base64, as the OpenAI API defines them.
export function decodeBase64Floats(text) {
  const bytes = Buffer.from(text, 'base64');
  assert.equal(bytes.length % 4, 0, `base64 embedding has ${bytes.length} bytes, not a multiple of 4`);
  const out = new Array(bytes.length / 4);
  for (let i = 0; i < out.length; ++i) out[i] = bytes.readFloatLE(i * 4);
  return out;
}

export function norm(vector) {
  return Math.sqrt(vector.reduce((sum, x) => sum + x * x, 0));
}

// Element-wise |a - b| <= tolerance, with the first offending index in the message.
export function assertClose(actual, expected, tolerance, what) {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; ++i) {
    const diff = Math.abs(actual[i] - expected[i]);
    if (!(diff <= tolerance)) {
      assert.fail(`${what}: element ${i} is ${actual[i]}, expected ${expected[i]} (|diff| ${diff} > ${tolerance})`);
    }
  }
}
