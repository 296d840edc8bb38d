// The official Qdrant JS client (@qdrant/js-client-rest) against the
// collection routes quarry implements today (docs/API.md "Collections").
// Run by run_clients_test.sh.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { QdrantClient } from '@qdrant/js-client-rest';
// The client throws this (its generated fetcher's error) for non-2xx answers.
import { ApiError } from '@qdrant/openapi-typescript-fetch';

import { baseUrl, modelDim, modelId, raw } from './common.mjs';

// quarry reports its own version (0.x), which the client's compatibility
// check would warn about; versionInfo() is tested below instead.
const client = new QdrantClient({ url: baseUrl, checkCompatibility: false, timeout: 60_000 });
const name = `clients_named_${process.pid}`;
const plain = `clients_plain_${process.pid}`;

function isApiError(status, messagePattern) {
  return (error) => {
    assert.ok(error instanceof ApiError, `got ${error?.constructor?.name}: ${error?.message}`);
    assert.equal(error.status, status);
    assert.equal(typeof error.data?.status?.error, 'string', JSON.stringify(error.data));
    assert.match(error.data.status.error, messagePattern);
    assert.equal(typeof error.data.time, 'number');
    return true;
  };
}

describe('qdrant client: collections', () => {
  it('versionInfo reads the root route', async () => {
    const info = await client.versionInfo();
    assert.match(info.title, /quarry/);
    assert.match(info.version, /^\d+\.\d+\.\d+/);
  });

  it('createCollection with named vectors, then collectionExists', async () => {
    assert.deepEqual(await client.collectionExists(name), { exists: false });
    const created = await client.createCollection(name, {
      vectors: {
        // Named like the loaded model: documents are embedded with it.
        [modelId]: { size: modelDim, distance: 'Cosine' },
        small: { size: 8, distance: 'Dot', hnsw_config: { m: 8, ef_construct: 64 } },
      },
      hnsw_config: { m: 12, ef_construct: 100 },
      // Accepted and ignored, as the client sends them for Qdrant.
      shard_number: 1,
      replication_factor: 1,
      on_disk_payload: true,
    });
    assert.equal(created, true);
    assert.deepEqual(await client.collectionExists(name), { exists: true });
  });

  it('createCollection with one unnamed vector', async () => {
    assert.equal(await client.createCollection(plain, { vectors: { size: 16, distance: 'Euclid' } }), true);
  });

  it('creating an existing collection is the client error with status 409', async () => {
    await assert.rejects(
      client.createCollection(name, { vectors: { size: 4, distance: 'Cosine' } }),
      isApiError(409, /already exists/),
    );
  });

  it('getCollections lists both', async () => {
    const { collections } = await client.getCollections();
    const names = collections.map((c) => c.name);
    assert.ok(names.includes(name) && names.includes(plain), `collections: ${names.join(', ')}`);
  });

  it('getCollection returns the configuration that was asked for', async () => {
    const info = await client.getCollection(name);
    assert.equal(info.status, 'green');
    assert.equal(info.points_count, 0);
    const vectors = info.config.params.vectors;
    assert.equal(vectors[modelId].size, modelDim);
    assert.equal(vectors[modelId].distance, 'Cosine');
    assert.equal(vectors.small.size, 8);
    assert.equal(vectors.small.distance, 'Dot');
    // The collection-level hnsw_config applies to vectors without their own.
    assert.deepEqual(vectors[modelId].hnsw_config, { m: 12, ef_construct: 100 });
    assert.deepEqual(vectors.small.hnsw_config, { m: 8, ef_construct: 64 });
    // (info.config.hnsw_config is not checked: quarry reports the first
    // vector's there, by name order, rather than the collection-level one.)

    const single = await client.getCollection(plain);
    assert.equal(single.config.params.vectors.size, 16);
    assert.equal(single.config.params.vectors.distance, 'Euclid');
  });

  it('points_count follows documents added through quarry (embedded with the model)', async () => {
    // The "small" vector has no model of its size: give the documents to a
    // collection whose only dense vector matches the model.
    const docs = `clients_docs_${process.pid}`;
    assert.equal(await client.createCollection(docs, { vectors: { size: modelDim, distance: 'Cosine' } }), true);
    const documents = Array.from({ length: 5 }, (_, i) => ({
      id: `doc-${i}`,
      title: `Document ${i}`,
      text: `Paragraph ${i} explains how the kernel schedules work item number ${i}.`,
    }));
    const { status, body } = await raw('POST', `/collections/${docs}/documents`, { documents });
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body.result.embedded, true);
    const info = await client.getCollection(docs);
    assert.equal(info.points_count, 5);
    assert.equal(info.indexed_vectors_count, 5);
    assert.equal(await client.deleteCollection(docs), true);
  });

  it('an unknown collection is the client error with status 404', async () => {
    await assert.rejects(client.getCollection('no_such_collection'), isApiError(404, /does not exist/));
  });

  it('bad input is the client error with status 400', async () => {
    await assert.rejects(
      client.createCollection('bad name!', { vectors: { size: 4, distance: 'Cosine' } }),
      isApiError(400, /name/),
    );
    await assert.rejects(
      client.createCollection(`clients_bad_${process.pid}`, { vectors: { size: 4, distance: 'Manhattan' } }),
      (error) => error instanceof ApiError && error.status === 400,
    );
  });

  it('deleteCollection is idempotent: true, then false', async () => {
    assert.equal(await client.deleteCollection(name), true);
    assert.deepEqual(await client.collectionExists(name), { exists: false });
    assert.equal(await client.deleteCollection(name), false);
    assert.equal(await client.deleteCollection(plain), true);
    const { collections } = await client.getCollections();
    assert.ok(!collections.some((c) => c.name === name || c.name === plain));
  });
});
