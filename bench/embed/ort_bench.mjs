#!/usr/bin/env node
// ONNX Runtime anchor (the engine under FastEmbed) for Quarry's encoder benchmark.
//
//   node bench/embed/ort_bench.mjs --onnx FILE.onnx --workload W.json --threads 2
//        [--repeat 5] [--warmup 1] [--pad-id N] [--dump OUT.json]
//        [--disable-optimizers SkipLayerNormFusion]
//
// Session: CPU EP, intraOpNumThreads = --threads, interOpNumThreads 1,
// graphOptimizationLevel 'all', sequential execution. --disable-optimizers (comma list,
// session config optimization.disable_specified_optimizers) defaults to
// SkipLayerNormFusion: ORT's fused SkipLayerNormalization CPU kernel measured ~3x slower
// than the LayerNormalization + Add it replaces (bge-small, 32 x 256 tokens, 2 threads:
// 160 ms vs 50 ms per batch, 13% of the whole run); pass '' to keep every fusion. Every batch is right-padded to
// its own longest sequence with config.json's pad_token_id (from the workload's
// model_dir, or --pad-id), attention_mask = 1 on real tokens. Tensors are built once,
// outside the timed loop. --warmup untimed passes, then --repeat timed passes over all
// batches; "seconds" / "ms_per_item" come from the MEDIAN pass ("best_seconds" is the
// fastest). Prints one JSON line.
// --dump OUT.json: one untimed, profiled pass; writes {"output", "outputs": [{"dims",
// "data"}, ...] (one per batch), "kernels": {op type: count}} and exits (export_onnx.py
// uses it to compare ORT with torch and to show which fused kernels ORT ran).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';

const require = createRequire(import.meta.url);
const ort = require('onnxruntime-node');

function parseArgs(argv) {
  const a = {
    threads: 2, repeat: 5, warmup: 1, padId: null, dump: null,
    disableOptimizers: 'SkipLayerNormFusion',
  };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = () => {
      if (i + 1 >= argv.length) throw new Error(`${k} needs a value`);
      return argv[++i];
    };
    if (k === '--onnx') a.onnx = v();
    else if (k === '--workload') a.workload = v();
    else if (k === '--threads') a.threads = parseInt(v(), 10);
    else if (k === '--repeat') a.repeat = parseInt(v(), 10);
    else if (k === '--warmup') a.warmup = parseInt(v(), 10);
    else if (k === '--pad-id') a.padId = parseInt(v(), 10);
    else if (k === '--dump') a.dump = v();
    else if (k === '--disable-optimizers') a.disableOptimizers = v();
    else if (k === '-h' || k === '--help') {
      console.log('usage: ort_bench.mjs --onnx FILE --workload W.json [--threads 2] ' +
                  '[--repeat 5] [--warmup 1] [--pad-id N] [--dump OUT.json] ' +
                  '[--disable-optimizers SkipLayerNormFusion]');
      process.exit(0);
    } else throw new Error(`unknown argument ${k}`);
  }
  if (!a.onnx || !a.workload) throw new Error('--onnx and --workload are required');
  if (!(a.threads >= 1) || !(a.repeat >= 1) || !(a.warmup >= 0)) {
    throw new Error('--threads and --repeat must be >= 1, --warmup >= 0');
  }
  return a;
}

// model_dir as written if it exists, else relative to the workload file (as torch_model.py).
function resolveModelDir(w, workloadPath) {
  if (!w.model_dir) return null;
  if (path.isAbsolute(w.model_dir) || fs.existsSync(w.model_dir)) return w.model_dir;
  const alt = path.join(path.dirname(path.resolve(workloadPath)), w.model_dir);
  return fs.existsSync(alt) ? alt : w.model_dir;
}

function padId(args, w) {
  if (args.padId !== null) return args.padId;
  const dir = resolveModelDir(w, args.workload);
  const cfgPath = dir && path.join(dir, 'config.json');
  if (!cfgPath || !fs.existsSync(cfgPath)) {
    throw new Error('no config.json for the pad id (workload model_dir missing); pass --pad-id');
  }
  const cfg = JSON.parse(fs.readFileSync(cfgPath, 'utf8'));
  return cfg.pad_token_id ?? 0;
}

// One batch -> int64 tensors [B, L], right-padded to the batch's longest sequence.
function padBatch(batch, pad) {
  const seqs = batch.input_ids;
  const types = batch.token_type_ids;
  const B = seqs.length;
  const L = Math.max(...seqs.map((s) => s.length));
  const ids = new BigInt64Array(B * L).fill(BigInt(pad));
  const mask = new BigInt64Array(B * L);
  const tt = new BigInt64Array(B * L);
  for (let i = 0; i < B; i++) {
    const s = seqs[i];
    for (let j = 0; j < s.length; j++) {
      ids[i * L + j] = BigInt(s[j]);
      mask[i * L + j] = 1n;
    }
    const t = types && types[i];
    if (t) for (let j = 0; j < t.length; j++) tt[i * L + j] = BigInt(t[j]);
  }
  const dims = [B, L];
  return {
    input_ids: new ort.Tensor('int64', ids, dims),
    attention_mask: new ort.Tensor('int64', mask, dims),
    token_type_ids: new ort.Tensor('int64', tt, dims),
  };
}

async function pass(session, feeds) {
  const outs = [];
  for (const f of feeds) outs.push(await session.run(f));
  return outs;
}

// Op types ORT executed per run (after its graph optimizations), from its profile.
function kernelCounts(session, dir, runs) {
  try {
    session.endProfiling();
    const counts = {};
    for (const f of fs.readdirSync(dir)) {
      for (const e of JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'))) {
        if (e.cat === 'Node' && e.name.endsWith('_kernel_time') && e.args?.op_name) {
          counts[e.args.op_name] = (counts[e.args.op_name] || 0) + 1;
        }
      }
    }
    for (const k of Object.keys(counts)) counts[k] = counts[k] / runs;
    return counts;
  } catch (e) {
    return { error: String(e) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const w = JSON.parse(fs.readFileSync(args.workload, 'utf8'));
  const pad = padId(args, w);

  const options = {
    executionProviders: ['cpu'],
    intraOpNumThreads: args.threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
  };
  if (args.disableOptimizers) {
    options.extra = { optimization: { disable_specified_optimizers: args.disableOptimizers } };
  }
  let profDir = null;
  if (args.dump) {
    profDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ort-check-'));
    options.enableProfiling = true;
    options.profileFilePrefix = path.join(profDir, 'profile');
  }
  const session = await ort.InferenceSession.create(args.onnx, options);
  // Feed only the inputs the graph declares (an XLM-R export may not use token_type_ids).
  const feeds = w.batches.map((b) => {
    const all = padBatch(b, pad);
    return Object.fromEntries(session.inputNames.map((n) => {
      if (!(n in all)) throw new Error(`model input ${n} is not one the anchor provides`);
      return [n, all[n]];
    }));
  });
  const nItems = w.batches.reduce((n, b) => n + b.input_ids.length, 0);

  if (args.dump) {
    const outs = await pass(session, feeds);
    const name = session.outputNames[0];
    const dumped = outs.map((o) => ({ dims: o[name].dims, data: Array.from(o[name].data) }));
    const kernels = kernelCounts(session, profDir, feeds.length);
    fs.writeFileSync(args.dump, JSON.stringify({ output: name, outputs: dumped, kernels }));
    return;
  }

  for (let i = 0; i < args.warmup; i++) await pass(session, feeds);
  const times = [];
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  for (let i = 0; i < args.repeat; i++) {
    const t0 = performance.now();
    await pass(session, feeds);
    times.push((performance.now() - t0) / 1000);
  }
  const cpu = process.cpuUsage(cpu0);
  // process CPU seconds per wall second: well under `threads` = the run was starved
  const cpuUtil = (cpu.user + cpu.system) / 1e3 / (performance.now() - wall0);
  const med = median(times);
  console.log(JSON.stringify({
    engine: 'onnxruntime',
    precision: 'fp32',
    workload: w.workload ?? null,
    n_items: nItems,
    n_batches: w.batches.length,
    threads: args.threads,
    seconds: med,
    ms_per_item: (med * 1000) / nItems,
    stat: 'median',
    best_seconds: Math.min(...times),
    pass_seconds: times,
    repeat: args.repeat,
    warmup: args.warmup,
    cpu_util: Math.round(cpuUtil * 100) / 100,
    ort_disabled_optimizers: args.disableOptimizers || null,
    ort_version: ort.env.versions.node ?? ort.env.versions.common,
  }));
}

main().catch((e) => {
  console.error(`ort_bench: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
