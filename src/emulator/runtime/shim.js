// fgform emulator: the Node.js side of one function instance (see runtime/worker.rs).
//
// stdin carries one JSON line per message from the emulator: first the setup, then one per
// invocation. Answers go back one JSON line each on stdout through the stream's own write;
// everything else written to process.stdout / process.stderr (console.* included) is captured
// as the current invocation's function log.
'use strict';
const path = require('path');
const readline = require('readline');
const { Worker } = require('worker_threads');

const rawWrite = process.stdout.write.bind(process.stdout);
let captured = [];
const capture = (chunk, encoding, callback) => {
  captured.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
  const done = typeof encoding === 'function' ? encoding : callback;
  if (done) done();
  return true;
};
process.stdout.write = capture;
process.stderr.write = capture;
const takeLog = () => { const text = captured.join(''); captured = []; return text; };
const answer = (message) => rawWrite(JSON.stringify(message) + '\n');
const usedMb = () => process.memoryUsage().rss / (1024 * 1024);

// The emulator went away (killed, even with -9): so does this instance, even while a handler
// spins synchronously, since the watch runs on a thread of its own.
new Worker(`
  const parent = ${process.ppid};
  const nap = new Int32Array(new SharedArrayBuffer(4));
  for (;;) { Atomics.wait(nap, 0, 0, 1000); if (process.ppid !== parent) process.kill(${process.pid}, 'SIGKILL'); }
`, { eval: true }).unref();

const failure = (error) => {
  if (error instanceof Error) {
    return {
      errorType: error.name || 'Error',
      errorMessage: error.message,
      stackTrace: String(error.stack || '').split('\n').slice(1).map((l) => l.trim()),
    };
  }
  return { errorType: typeof error, errorMessage: String(error), stackTrace: [] };
};

const encode = (value) => (typeof value === 'string' ? value : JSON.stringify(value === undefined ? null : value));

const resolve = (spec, root) => {
  const dot = spec.lastIndexOf('.');
  if (dot <= 0) throw new Error(`handler ${JSON.stringify(spec)} is not module.function`);
  const mod = require(path.join(root, spec.slice(0, dot)));
  const fn = mod[spec.slice(dot + 1)];
  if (typeof fn !== 'function') throw new Error(`module ${spec.slice(0, dot)} exports no function ${spec.slice(dot + 1)}`);
  return fn;
};

function context(setup, request) {
  const deadline = Date.now() + (request.remaining_ms || 0);
  const started = Date.now();
  const log = (level) => (...args) => {
    const stamp = new Date().toISOString().replace('T', ' ').slice(0, 19);
    captured.push(`${stamp} ${request.request_id || ''} ${level} ${args.join(' ')}\n`);
  };
  const logger = { info: log('INFO'), warn: log('WARN'), error: log('ERROR'), debug: log('DEBUG') };
  const creds = setup.credentials;
  return {
    getRequestID: () => request.request_id || '',
    getRemainingTimeInMilliSeconds: () => Math.max(0, deadline - Date.now()),
    getRunningTimeInSeconds: () => Math.floor((Date.now() - started) / 1000),
    getUserData: (key, fallback) => (key in setup.user_data ? setup.user_data[key] : fallback),
    getFunctionName: () => setup.function_name,
    getVersion: () => setup.version,
    getAlias: () => request.alias || '',
    getMemorySize: () => setup.memory_mb,
    getCPUNumber: () => setup.cpu,
    getPackage: () => setup.package,
    getProjectID: () => setup.project_id,
    getLogger: () => logger,
    getToken: () => creds.token,
    getAccessKey: () => creds.access_key,
    getSecretKey: () => creds.secret_key,
    getSecurityAccessKey: () => creds.access_key,
    getSecuritySecretKey: () => creds.secret_key,
    getSecurityToken: () => creds.security_token,
  };
}

// Calls `fn` async or callback style; resolves to {ok, result} or {ok: false, error}.
function call(fn, args) {
  return new Promise((resolveCall) => {
    let settled = false;
    const settle = (outcome) => { if (!settled) { settled = true; resolveCall(outcome); } };
    const callback = (error, result) => (error != null
      ? settle({ ok: false, error: failure(error) })
      : settle({ ok: true, result: encode(result) }));
    try {
      const returned = fn(...args, callback);
      if (returned && typeof returned.then === 'function') {
        returned.then((result) => settle({ ok: true, result: encode(result) }), (error) => settle({ ok: false, error: failure(error) }));
      } else if (fn.length < args.length + 1) {
        settle({ ok: true, result: encode(returned) });
      }
    } catch (error) {
      settle({ ok: false, error: failure(error) });
    }
  });
}

async function main() {
  const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  const iterator = lines[Symbol.asyncIterator]();
  const first = await iterator.next();
  if (first.done) return;
  const setup = JSON.parse(first.value);
  module.paths.unshift(...setup.paths);
  process.env.NODE_PATH = setup.paths.join(path.delimiter);
  require('module').Module._initPaths();
  let handler = null;
  let ready;
  try {
    handler = resolve(setup.handler, setup.code_root);
    ready = { ok: true };
    if (setup.initializer) {
      const init = resolve(setup.initializer, setup.code_root);
      const ctx = context(setup, { request_id: 'init', remaining_ms: setup.initializer_ms });
      const outcome = await call(init, [ctx]);
      if (!outcome.ok) { handler = null; ready = outcome; }
    }
  } catch (error) {
    handler = null;
    ready = { ok: false, error: failure(error) };
  }
  answer({ ...ready, result: undefined, log: takeLog(), memory_mb: usedMb() });
  if (!handler) { process.exit(0); }
  for (;;) {
    const next = await iterator.next();
    if (next.done) process.exit(0);
    const request = JSON.parse(next.value);
    const outcome = await call(handler, [request.event, context(setup, request)]);
    answer({ ...outcome, log: takeLog(), memory_mb: usedMb() });
  }
}

main();
