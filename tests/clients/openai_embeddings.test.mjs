// The official OpenAI Node client (package `openai`) against quarry's
// POST /v1/embeddings and GET /v1/models. Run by run_clients_test.sh.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import OpenAI from 'openai';

import { assertClose, baseUrl, decodeBase64Floats, modelDim, modelId, norm, raw } from './common.mjs';

const client = new OpenAI({ baseURL: `${baseUrl}/v1`, apiKey: 'sk-not-checked', maxRetries: 0, timeout: 60_000 });

const texts = [
  'How does the scheduler pick the next task?',
  'Memory barriers',
  'The block layer splits requests that cross a device boundary into smaller bios.',
];

// The reference: quarry's own float answer for one text, over plain fetch.
async function rawEmbedding(text, extra = {}) {
  const { status, body } = await raw('POST', '/v1/embeddings', { model: modelId, input: text, ...extra });
  assert.equal(status, 200, JSON.stringify(body));
  return body.data[0].embedding;
}

describe('openai client: embeddings.create', () => {
  it('string input: the client (base64 on the wire, decoded) equals a raw float answer', async () => {
    const result = await client.embeddings.create({ model: modelId, input: texts[0] });
    assert.equal(result.object, 'list');
    assert.equal(result.model, modelId);
    assert.equal(result.data.length, 1);
    assert.equal(result.data[0].object, 'embedding');
    assert.equal(result.data[0].index, 0);
    const vector = result.data[0].embedding;
    assert.ok(Array.isArray(vector), 'the client decodes its default base64 request into numbers');
    assert.equal(vector.length, modelDim);
    assert.ok(Math.abs(norm(vector) - 1) < 1e-4, `norm ${norm(vector)} (the model normalises)`);
    assert.ok(result.usage.prompt_tokens > 2, `usage ${JSON.stringify(result.usage)}`);
    assert.equal(result.usage.total_tokens, result.usage.prompt_tokens);

    const reference = await rawEmbedding(texts[0]);
    // JSON floats parse to doubles; the wire's float32 values are their fround.
    assert.deepEqual(vector, reference.map(Math.fround), 'same float32 values as the raw float answer');
  });

  it('array input: one embedding per input, in order, each equal to the single-input answer', async () => {
    const result = await client.embeddings.create({ model: modelId, input: texts, encoding_format: 'float' });
    assert.equal(result.data.length, texts.length);
    const seen = new Set();
    for (const [position, item] of result.data.entries()) {
      assert.equal(item.index, position);
      assert.equal(item.embedding.length, modelDim);
      seen.add(item.embedding.slice(0, 4).join(','));
      // Batching pads the inputs to a common length; the values must not move
      // beyond float rounding.
      assertClose(item.embedding, await rawEmbedding(texts[position]), 1e-5, `input[${position}]`);
    }
    assert.equal(seen.size, texts.length, 'different texts get different embeddings');
  });

  it("encoding_format 'base64' decodes (little-endian float32) to the 'float' answer", async () => {
    const b64 = await client.embeddings.create({ model: modelId, input: texts, encoding_format: 'base64' });
    const floats = await client.embeddings.create({ model: modelId, input: texts, encoding_format: 'float' });
    assert.equal(b64.data.length, texts.length);
    for (const [position, item] of b64.data.entries()) {
      assert.equal(typeof item.embedding, 'string', 'with an explicit base64 format the client returns the string');
      const decoded = decodeBase64Floats(item.embedding);
      assert.equal(decoded.length, modelDim);
      assert.deepEqual(decoded, floats.data[position].embedding.map(Math.fround), `input[${position}]`);
    }
    assert.deepEqual(b64.usage, floats.usage);
  });

  it('dimensions: the model size always; smaller truncates and renormalises (--dimensions-model)', async () => {
    const full = (await client.embeddings.create({ model: modelId, input: texts[2], encoding_format: 'float' })).data[0]
      .embedding;
    const same = await client.embeddings.create({ model: modelId, input: texts[2], dimensions: modelDim });
    assert.equal(same.data[0].embedding.length, modelDim);
    assertClose(same.data[0].embedding, full, 1e-6, 'dimensions = model size');

    const small = modelDim / 4;
    const cut = await client.embeddings.create({ model: modelId, input: texts[2], dimensions: small });
    const vector = cut.data[0].embedding;
    assert.equal(vector.length, small);
    assert.ok(Math.abs(norm(vector) - 1) < 1e-4, `norm ${norm(vector)}`);
    const prefix = full.slice(0, small);
    const prefixNorm = norm(prefix);
    assertClose(vector, prefix.map((x) => x / prefixNorm), 1e-5, 'truncated and renormalised');
  });

  it('unknown model: the typed NotFoundError with status 404 and the server message', async () => {
    await assert.rejects(
      client.embeddings.create({ model: 'text-embedding-3-small', input: 'hello' }),
      (error) => {
        assert.ok(error instanceof OpenAI.NotFoundError, `got ${error?.constructor?.name}: ${error?.message}`);
        assert.ok(error instanceof OpenAI.APIError);
        assert.equal(error.status, 404);
        assert.equal(error.type, 'not_found_error');
        assert.match(error.message, /text-embedding-3-small' is not loaded/);
        return true;
      },
    );
  });

  it('token-array input: one embedding per array, usage counts the ids, ids outside the vocabulary refused', async () => {
    const result = await client.embeddings.create({ model: modelId, input: [[120, 254, 203], [254]], encoding_format: 'float' });
    assert.equal(result.data.length, 2);
    assert.equal(result.data[0].embedding.length, modelDim);
    assert.equal(result.usage.prompt_tokens, 4);
    assert.notDeepEqual(result.data[0].embedding, result.data[1].embedding);
    // The same ids again give the same vector.
    const again = await client.embeddings.create({ model: modelId, input: [254], encoding_format: 'float' });
    assertClose(again.data[0].embedding, result.data[1].embedding, 1e-5, 'same ids, same vector');
    await assert.rejects(client.embeddings.create({ model: modelId, input: [[1, 999999999]] }), (error) => {
      assert.equal(error.status, 400);
      assert.match(error.message, /outside the vocabulary/);
      return true;
    });
  });

  it('bad requests: the typed BadRequestError with status 400', async () => {
    await assert.rejects(client.embeddings.create({ model: modelId, input: [] }), (error) => {
      assert.ok(error instanceof OpenAI.BadRequestError, `got ${error?.constructor?.name}: ${error?.message}`);
      assert.equal(error.status, 400);
      assert.equal(error.type, 'invalid_request_error');
      assert.match(error.message, /input/);
      return true;
    });
    await assert.rejects(client.embeddings.create({ model: modelId, input: 'x', dimensions: modelDim + 1 }), (error) => {
      assert.ok(error instanceof OpenAI.BadRequestError, `got ${error?.constructor?.name}: ${error?.message}`);
      assert.equal(error.status, 400);
      assert.match(error.message, /dimensions/);
      return true;
    });
  });
});

describe('openai client: models.list', () => {
  it('lists the loaded embedding model', async () => {
    const ids = [];
    for await (const model of client.models.list()) ids.push(model.id);
    assert.ok(ids.includes(modelId), `models: ${ids.join(', ')}`);
    const model = await client.models.list().then((page) => page.data.find((m) => m.id === modelId));
    assert.equal(model.object, 'model');
    assert.equal(model.owned_by, 'quarry');
  });
});
