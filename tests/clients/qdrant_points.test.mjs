// The official Qdrant JS client (@qdrant/js-client-rest) against quarry's
// points routes: upsert, retrieve, payload, delete, scroll, count, search and
// the Query API (dense, sparse with idf, fusion, rescoring, filters). Every
// expected id order and score below is worked out by hand from the vectors.
// Run by run_clients_test.sh.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { QdrantClient } from '@qdrant/js-client-rest';
import { ApiError } from '@qdrant/openapi-typescript-fetch';

import { assertClose, baseUrl, raw } from './common.mjs';

const client = new QdrantClient({ url: baseUrl, checkCompatibility: false, timeout: 60_000 });
const hybrid = `clients_points_${process.pid}`;
const euclid = `clients_euclid_${process.pid}`;
const U1 = '5c56c793-69f3-4fbf-87e6-c4bf54c28c26';
const U2 = 'f0e1d2c3-b4a5-4697-8879-6a5b4c3d2e1f';
const ALL = [1, 2, 3, 4, 5, 6, U1, U2];  // Qdrant's id order: integers, then UUIDs

// Points 1..6 lie on the unit circle at 0, 15, ..., 75 degrees (point 1 is
// sent unnormalised: cosine stores it normalised); U1 is orthogonal, U2 opposite.
const rad = (deg) => (deg * Math.PI) / 180;
const angle = { 1: 0, 2: 15, 3: 30, 4: 45, 5: 60, 6: 75 };
const dense = (id) => (id === 1 ? [2, 0, 0, 0] : [Math.cos(rad(angle[id])), Math.sin(rad(angle[id])), 0, 0]);
// Term 10 is in 4 of 8 points, 20 in 1, 30 in 3, 40 in 1.
const sparse = {
  1: { indices: [10], values: [3] }, 2: { indices: [10], values: [2] }, 3: { indices: [10], values: [1] },
  4: { indices: [10, 30], values: [0.5, 1] }, 5: { indices: [20], values: [1] }, 6: { indices: [30], values: [2] },
  [U1]: { indices: [30], values: [1] }, [U2]: { indices: [40], values: [1] },
};
const payload = {
  1: { city: 'Berlin', price: 10, tags: ['a', 'b'], note: 'red apple pie' },
  2: { city: 'London', price: 20, tags: ['b'] },
  3: { city: 'Paris', price: 30, tags: [] },
  4: { city: 'Berlin', price: 40, note: null },
  5: { city: 'Rome', price: 50, note: 'green apple' },
  6: { city: 'Oslo', price: 60 },
  [U1]: { city: 'Berlin', price: 70 },
  [U2]: { city: 'Paris', price: 80 },
};
// Qdrant's idf modifier with N = 8: ln((N - df + 0.5) / (df + 0.5) + 1).
const idf = (df) => Math.log((8 - df + 0.5) / (df + 0.5) + 1);
const sparseQuery = { indices: [10, 20], values: [1, 1] };
// -> 1: 3 idf(4), 5: idf(1), 2: 2 idf(4), 3: idf(4), 4: 0.5 idf(4) (without idf 5 would tie 3).
const sparseExpected = [[1, 3 * idf(4)], [5, idf(1)], [2, 2 * idf(4)], [3, idf(4)], [4, 0.5 * idf(4)]];
const cos = (id) => Math.cos(rad(angle[id]));

function isApiError(status, messagePattern) {
  return (error) => {
    assert.ok(error instanceof ApiError, `got ${error?.constructor?.name}: ${error?.message}`);
    assert.equal(error.status, status, JSON.stringify(error.data));
    assert.equal(typeof error.data?.status?.error, 'string', JSON.stringify(error.data));
    assert.match(error.data.status.error, messagePattern);
    return true;
  };
}
const ids = (points) => points.map((p) => p.id);
function assertScored(points, expected, what) {
  assert.deepEqual(ids(points), expected.map(([id]) => id), `${what}: ids`);
  points.forEach((p, i) => assert.ok(Math.abs(p.score - expected[i][1]) <= 1e-4,
    `${what}: point ${p.id} score ${p.score}, expected ${expected[i][1]}`));
}
const city = (value) => ({ key: 'city', match: { value } });
const count = async (filter) => (await client.count(hybrid, { filter, exact: true })).count;
const completed = (result) => assert.equal(result.status, 'completed', JSON.stringify(result));

// Qdrant's DBSF: each list mapped by mean +- 3 sample standard deviations to [0, 1], then summed.
function dbsf(lists) {
  const total = new Map();
  for (const list of lists) {
    const s = list.map(([, score]) => score);
    const mean = s.reduce((a, b) => a + b, 0) / s.length;
    const sd = Math.sqrt(s.reduce((a, b) => a + (b - mean) ** 2, 0) / (s.length - 1));
    for (const [id, score] of list) total.set(id, (total.get(id) ?? 0) + (score - (mean - 3 * sd)) / (6 * sd));
  }
  return [...total].sort((a, b) => b[1] - a[1]);
}

describe('qdrant client: points', () => {
  it('createCollection with a dense and an idf sparse vector, then upsert points and a batch', async () => {
    assert.equal(await client.createCollection(hybrid, {
      vectors: { dense: { size: 4, distance: 'Cosine' } },
      sparse_vectors: { sparse: { modifier: 'idf' } },
    }), true);
    completed(await client.upsert(hybrid, {
      wait: true,
      points: [1, 2, 3, 4, 5, 6].map((id) => ({ id, vector: { dense: dense(id), sparse: sparse[id] }, payload: payload[id] })),
    }));
    completed(await client.upsert(hybrid, {
      wait: true,
      batch: {
        ids: [U1, U2],
        vectors: { dense: [[0, 0, 1, 0], [-1, 0, 0, 0]], sparse: [sparse[U1], sparse[U2]] },
        payloads: [payload[U1], payload[U2]],
      },
    }));
    assert.equal(await count(), 8);
  });

  it('createPayloadIndex, and getCollection reports vectors, points and the payload schema', async () => {
    completed(await client.createPayloadIndex(hybrid, { field_name: 'city', field_schema: 'keyword', wait: true }));
    completed(await client.createPayloadIndex(hybrid, { field_name: 'price', field_schema: 'integer', wait: true }));
    const info = await client.getCollection(hybrid);
    assert.equal(info.points_count, 8);
    assert.equal(info.config.params.vectors.dense.size, 4);
    assert.equal(info.config.params.vectors.dense.distance, 'Cosine');
    assert.equal(info.payload_schema.city.data_type, 'keyword');
    assert.equal(info.payload_schema.price.data_type, 'integer');
  });

  it('getCollection reports the sparse vector and its modifier (as Qdrant)', async () => {
    const info = await client.getCollection(hybrid);
    assert.equal(info.config.params.sparse_vectors?.sparse?.modifier, 'idf', JSON.stringify(info.config.params));
  });

  it('retrieve by ids (missing ids skipped) and GET one point', async () => {
    const got = await client.retrieve(hybrid, { ids: [U1, 1, 999], with_payload: true, with_vector: true });
    const byId = new Map(got.map((p) => [p.id, p]));
    assert.deepEqual([...byId.keys()].sort(), [1, U1].sort());
    assert.deepEqual(byId.get(1).payload, payload[1]);
    assert.equal(byId.get(1).vector.dense.length, 4);
    assert.deepEqual(byId.get(1).vector.sparse, sparse[1]);
    assert.deepEqual(byId.get(U1).payload, payload[U1]);
    const one = await raw('GET', `/collections/${hybrid}/points/${U1}`);
    assert.equal(one.status, 200, JSON.stringify(one.body));
    assert.equal(one.body.result.id, U1);
    assert.equal((await raw('GET', `/collections/${hybrid}/points/999`)).status, 404);
  });

  it('a wrong-dimension vector and bad ids are the client error with status 400', async () => {
    await assert.rejects(client.upsert(hybrid, { wait: true, points: [{ id: 7, vector: { dense: [1, 0, 0] } }] }),
      isApiError(400, /dim/i));
    await assert.rejects(client.query(hybrid, { query: [1, 0, 0, 0, 0], using: 'dense' }), isApiError(400, /dim/i));
    await assert.rejects(client.upsert(hybrid, { wait: true, points: [{ id: 'not-a-uuid', vector: { dense: [1, 0, 0, 0] } }] }),
      isApiError(400, /id/));
    await assert.rejects(client.upsert(hybrid, { wait: true, points: [{ id: -1, vector: { dense: [1, 0, 0, 0] } }] }),
      isApiError(400, /id/));
    await assert.rejects(client.retrieve(hybrid, { ids: ['nope'] }), isApiError(400, /id/));
    assert.equal(await count(), 8);
  });

  it('search and searchBatch on named dense and sparse vectors', async () => {
    const found = await client.search(hybrid, { vector: { name: 'dense', vector: [1, 0, 0, 0] }, limit: 8 });
    assertScored(found, [...[1, 2, 3, 4, 5, 6].map((id) => [id, cos(id)]), [U1, 0], [U2, -1]], 'search');
    assert.deepEqual(found[0].payload, payload[1]);
    const batch = await client.searchBatch(hybrid, {
      searches: [
        { vector: { name: 'dense', vector: [0, 1, 0, 0] }, limit: 2 },
        { vector: { name: 'dense', vector: [1, 0, 0, 0] }, limit: 1, filter: { must: [city('Paris')] } },
        { vector: { name: 'sparse', vector: sparseQuery }, limit: 2 },
      ],
    });
    assert.deepEqual(batch.map(ids), [[6, 5], [3], [1, 5]]);
  });

  it('query: dense with score_threshold, offset, with_payload selectors and with_vector', async () => {
    const q = { query: [1, 0, 0, 0], using: 'dense' };
    assertScored((await client.query(hybrid, { ...q, limit: 3 })).points, [[1, 1], [2, cos(2)], [3, cos(3)]], 'dense');
    assert.deepEqual(ids((await client.query(hybrid, { ...q, score_threshold: 0.8 })).points), [1, 2, 3]);
    assert.deepEqual(ids((await client.query(hybrid, { ...q, limit: 2, offset: 2 })).points), [3, 4]);
    const listed = await client.query(hybrid, { ...q, limit: 1, with_payload: ['city', 'price'] });
    assert.deepEqual(listed.points[0].payload, { city: 'Berlin', price: 10 });
    const excluded = await client.query(hybrid, { ...q, limit: 2, with_payload: { exclude: ['tags', 'note'] }, with_vector: ['dense'] });
    assert.deepEqual(excluded.points[0].payload, { city: 'Berlin', price: 10 });
    assert.deepEqual(Object.keys(excluded.points[1].vector), ['dense']);
    assertClose(excluded.points[1].vector.dense, dense(2), 1e-6, 'point 2 dense vector');
  });

  it('a cosine vector comes back normalised, as Qdrant stores it', async () => {
    const [one] = await client.retrieve(hybrid, { ids: [1], with_vector: true });
    assertClose(one.vector.dense, [1, 0, 0, 0], 1e-6, 'point 1 (sent as [2, 0, 0, 0])');
  });

  it('query: sparse with using, scored with idf', async () => {
    assertScored((await client.query(hybrid, { query: sparseQuery, using: 'sparse' })).points, sparseExpected, 'sparse');
  });

  const prefetch = [
    { query: [1, 0, 0, 0], using: 'dense', limit: 3 },  // 1, 2, 3
    { query: sparseQuery, using: 'sparse', limit: 3 },  // 1, 5, 2
  ];

  it('query: prefetch + fusion rrf (default k 2, k 60, weights)', async () => {
    // RRF: sum of weight-adjusted 1 / ((rank + 1) / w + k - 1), rank from 0.
    const rrf = await client.query(hybrid, { prefetch, query: { fusion: 'rrf' } });
    assertScored(rrf.points, [[1, 1 / 2 + 1 / 2], [2, 1 / 3 + 1 / 4], [5, 1 / 3], [3, 1 / 4]], 'rrf');
    const k60 = await client.query(hybrid, { prefetch, query: { rrf: { k: 60 } } });
    assertScored(k60.points, [[1, 2 / 60], [2, 1 / 61 + 1 / 62], [5, 1 / 61], [3, 1 / 62]], 'rrf k 60');
    const weighted = await client.query(hybrid, { prefetch, query: { rrf: { weights: [3, 1] } } });
    assertScored(weighted.points, [[1, 1 / (1 / 3 + 1) + 1 / 2], [2, 1 / (2 / 3 + 1) + 1 / 4], [3, 1 / 2], [5, 1 / 3]],
      'rrf weights 3, 1');
  });

  it('query: prefetch + fusion dbsf', async () => {
    const expected = dbsf([[[1, 1], [2, cos(2)], [3, cos(3)]], sparseExpected.slice(0, 3)]);
    assert.deepEqual(expected.map(([id]) => id), [1, 2, 5, 3]);
    assertScored((await client.query(hybrid, { prefetch, query: { fusion: 'dbsf' } })).points, expected, 'dbsf');
  });

  it('query: prefetch + dense rescoring scores only the prefetched candidates', async () => {
    // Sparse finds 1, 5, 2; rescored by [0, 1, 0, 0] (sin of the angle). 6 (sin 75) was not prefetched.
    const rescored = await client.query(hybrid, { prefetch: prefetch[1], query: [0, 1, 0, 0], using: 'dense' });
    assertScored(rescored.points, [[5, Math.sin(rad(60))], [2, Math.sin(rad(15))], [1, 0]], 'rescore');
  });

  it('query: filters, has_id with UUIDs', async () => {
    const q = { query: [1, 0, 0, 0], using: 'dense' };
    const has = await client.query(hybrid, { ...q, filter: { must: [{ has_id: [U2, 2, U1] }] } });
    assertScored(has.points, [[2, cos(2)], [U1, 0], [U2, -1]], 'has_id');
    const not = await client.query(hybrid, { ...q, filter: { must_not: [{ has_id: [1, 2, U1] }] }, limit: 2 });
    assert.deepEqual(ids(not.points), [3, 4]);
    const berlin = await client.query(hybrid, { ...q, filter: { must: [city('Berlin')] } });
    assert.deepEqual(ids(berlin.points), [1, 4, U1]);
  });

  it('count with filters', async () => {
    assert.equal(await count({ must: [city('Berlin')] }), 3);
    assert.equal(await count({ must: [{ key: 'city', match: { any: ['London', 'Paris'] } }] }), 3);
    assert.equal(await count({ must: [{ key: 'city', match: { except: ['Berlin', 'Paris'] } }] }), 3);
    assert.equal(await count({ must: [{ key: 'price', range: { gte: 20, lt: 50 } }] }), 3);
    assert.equal(await count({ must: [{ key: 'note', match: { text: 'apple' } }] }), 2);
    assert.equal(await count({ must: [{ is_empty: { key: 'tags' } }] }), 6);
    assert.equal(await count({ must: [{ is_null: { key: 'note' } }] }), 1);
    assert.equal(await count({ must_not: [city('Berlin')] }), 5);
    assert.equal(await count({ should: [city('Rome'), { key: 'price', range: { lte: 10 } }] }), 2);
    assert.equal(await count({ must: [city('Berlin'), { has_id: [U1, 4, 5] }] }), 2);
  });

  it('queryBatch', async () => {
    const batch = await client.queryBatch(hybrid, {
      searches: [
        { query: [1, 0, 0, 0], using: 'dense', limit: 2 },
        { query: sparseQuery, using: 'sparse', limit: 1 },
        { prefetch, query: { fusion: 'rrf' }, limit: 2 },
      ],
    });
    assert.deepEqual(batch.map((r) => ids(r.points)), [[1, 2], [1], [1, 2]]);
  });

  it('scroll pages with next_page_offset cover every point once, in id order', async () => {
    const seen = [];
    const sizes = [];
    let offset;
    for (let page = 0; page < 10; ++page) {
      const res = await client.scroll(hybrid, { limit: 3, offset, with_payload: false });
      sizes.push(res.points.length);
      seen.push(...ids(res.points));
      res.points.forEach((p) => assert.ok(p.payload == null, JSON.stringify(p)));
      offset = res.next_page_offset;
      if (offset == null) break;
    }
    assert.deepEqual(sizes, [3, 3, 2]);
    assert.deepEqual(seen, ALL);
    const berlin = await client.scroll(hybrid, { filter: { must: [city('Berlin')] } });
    assert.deepEqual(ids(berlin.points), [1, 4, U1]);
    assert.deepEqual(berlin.points[2].payload, payload[U1]);
    assert.equal(berlin.next_page_offset ?? null, null);
  });

  it('setPayload, overwritePayload, deletePayload, clearPayload', async () => {
    const get = async (id) => (await client.retrieve(hybrid, { ids: [id] }))[0].payload;
    completed(await client.setPayload(hybrid, { payload: { color: 'red' }, points: [1, 2], wait: true }));
    assert.deepEqual(await get(1), { ...payload[1], color: 'red' });
    assert.deepEqual(await get(2), { ...payload[2], color: 'red' });
    completed(await client.setPayload(hybrid, { payload: { country: 'FR' }, filter: { must: [city('Paris')] }, wait: true }));
    assert.equal(await count({ must: [{ key: 'country', match: { value: 'FR' } }] }), 2);
    completed(await client.overwritePayload(hybrid, { payload: { only: 1 }, points: [3], wait: true }));
    assert.deepEqual(await get(3), { only: 1 });
    completed(await client.deletePayload(hybrid, { keys: ['price', 'tags'], points: [1], wait: true }));
    assert.deepEqual(await get(1), { city: 'Berlin', note: 'red apple pie', color: 'red' });
    completed(await client.clearPayload(hybrid, { points: [4], wait: true }));
    assert.deepEqual(await get(4), {});
    assert.deepEqual(await get(U2), { ...payload[U2], country: 'FR' });
  });

  it('delete by ids and by filter: the points are gone everywhere', async () => {
    completed(await client.delete(hybrid, { points: [6, U2], wait: true }));
    assert.deepEqual(await client.retrieve(hybrid, { ids: [6, U2] }), []);
    assert.equal((await raw('GET', `/collections/${hybrid}/points/6`)).status, 404);
    completed(await client.delete(hybrid, { filter: { must: [city('Rome')] }, wait: true }));
    assert.equal(await count(), 5);
    assert.equal((await client.getCollection(hybrid)).points_count, 5);
    assert.deepEqual(ids((await client.scroll(hybrid, { limit: 100 })).points), [1, 2, 3, 4, U1]);
    const dense = await client.query(hybrid, { query: [0, 1, 0, 0], using: 'dense', limit: 10 });
    assert.deepEqual(ids(dense.points), [4, 3, 2, 1, U1]);
    const sparseHits = await client.query(hybrid, { query: sparseQuery, using: 'sparse' });
    assert.deepEqual(ids(sparseHits.points), [1, 2, 3, 4]);
  });

  it('an unnamed Euclid vector: scores are distances, ascending', async () => {
    assert.equal(await client.createCollection(euclid, { vectors: { size: 3, distance: 'Euclid' } }), true);
    completed(await client.upsert(euclid, {
      wait: true,
      batch: { ids: [1, 2, 3, 4], vectors: [[0, 0, 0], [1, 2, 2], [3, 4, 0], [1, 0, 0]], payloads: [{}, {}, {}, {}] },
    }));
    const info = await client.getCollection(euclid);
    assert.equal(info.config.params.vectors.distance, 'Euclid');
    assert.equal(info.points_count, 4);
    // From [0, 0, 1]: |1| = 1, |4| = sqrt 2, |2| = sqrt 6, |3| = sqrt 26.
    const expected = [[1, 1], [4, Math.SQRT2], [2, Math.sqrt(6)], [3, Math.sqrt(26)]];
    assertScored(await client.search(euclid, { vector: [0, 0, 1] }), expected, 'euclid search');
    assertScored((await client.query(euclid, { query: [0, 0, 1] })).points, expected, 'euclid query');
    // For a distance, score_threshold is the largest distance kept.
    assertScored((await client.query(euclid, { query: [0, 0, 1], score_threshold: 2.5 })).points,
      expected.slice(0, 3), 'euclid threshold');
    await assert.rejects(client.search(euclid, { vector: [0, 0, 1, 0] }), isApiError(400, /dim/i));
  });

  it('query with neither query nor prefetch lists points by id (as Qdrant)', async () => {
    assert.deepEqual(ids((await client.query(euclid, { limit: 10 })).points), [1, 2, 3, 4]);
  });

  it('deleteCollection both', async () => {
    assert.equal(await client.deleteCollection(hybrid), true);
    assert.equal(await client.deleteCollection(euclid), true);
  });
});
