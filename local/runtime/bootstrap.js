'use strict';
/**
 * The runtime interface of one container (one Lambda execution environment), started by
 * function-pool.ts as `node --require network-guard.js bootstrap.js` with exactly the function's
 * environment, its working directory LAMBDA_TASK_ROOT.
 *
 * It does what the Node.js runtime interface client of Lambda does, over the IPC channel instead
 * of the Runtime API: patches console (Lambda's text or JSON log lines), loads _HANDLER from
 * LAMBDA_TASK_ROOT at init (import() of <module>, .js, .mjs, .cjs, then require.resolve; the same
 * Runtime.* errors), then runs one invocation at a time and answers with the JSON of the result or
 * the formatted error. An uncaught exception or unhandled rejection ends the process, as on Lambda.
 *
 * Messages (parent -> child): { type: 'invoke', requestId, event (JSON text), deadlineMs,
 * invokedFunctionArn, clientContext?, identity? }.
 * (child -> parent): { type: 'ready', initDurationMs } | { type: 'init-error', error }
 * | { type: 'result', requestId, payload (JSON text), maxRssKb } | { type: 'error', requestId, error, maxRssKb }
 * | { type: 'crash', requestId?, error } | { type: 'blackholed', host, port } (from network-guard.js);
 * error = { errorType, errorMessage, trace: string[] } as Lambda reports it.
 */

const fs = require('node:fs');
const path = require('node:path');
const util = require('node:util');
const { performance } = require('node:perf_hooks');

const send = process.send.bind(process);
let currentRequestId;

// ---- console, as Lambda patches it (text: "time\trequestId\tLEVEL\tmessage"; JSON: one object per line)
const LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'];
const jsonLogs = (process.env.AWS_LAMBDA_LOG_FORMAT || '').toUpperCase() === 'JSON';
const minLevel = Math.max(0, LEVELS.indexOf((process.env.AWS_LAMBDA_LOG_LEVEL || 'TRACE').toUpperCase()));

function logLine(level, message, params) {
  const timestamp = new Date().toISOString();
  const line = jsonLogs
    ? jsonLogLine(timestamp, level, message, params)
    : [timestamp, currentRequestId, level, util.format(message, ...params)].join('\t');
  // One line per log event (CloudWatch keeps a multi-line message as one event): \n becomes \r.
  process.stdout.write(line.replace(/\n/g, '\r') + '\n');
}

function jsonLogLine(timestamp, level, message, params) {
  const record = { timestamp, level, requestId: currentRequestId };
  if (params.length === 0) {
    record.message = message;
    try {
      return JSON.stringify(record, (_key, value) => (value instanceof Error ? errorRecord(value) : value));
    } catch {
      record.message = util.format(message);
      return JSON.stringify(record);
    }
  }
  record.message = util.format(message, ...params);
  const error = params.find((param) => param instanceof Error);
  if (error !== undefined) Object.assign(record, errorRecord(error));
  return JSON.stringify(record);
}

function errorRecord(error) {
  return {
    errorType: (error.constructor && error.constructor.name) || 'UnknownError',
    errorMessage: error.message,
    stackTrace: typeof error.stack === 'string' ? error.stack.split('\n') : [],
  };
}

LEVELS.forEach((level, index) => {
  const method = level.toLowerCase();
  console[method] = index >= minLevel ? (message, ...params) => logLine(level, message, params) : () => {};
});
console.log = console.info;

// ---- errors, as the runtime reports them
function formatError(error) {
  try {
    if (error instanceof Error) {
      return {
        errorType: String(error.name),
        errorMessage: String(error.message),
        trace: typeof error.stack === 'string' ? error.stack.split('\n') : [],
      };
    }
    return { errorType: typeof error, errorMessage: String(error), trace: [] };
  } catch {
    return { errorType: 'handled', errorMessage: 'there was a problem while retrieving the error name, message or stack', trace: [] };
  }
}

function runtimeError(name, message) {
  const error = new Error(message);
  error.name = name;
  return error;
}

function logError(title, error) {
  if (jsonLogs) console.error(error instanceof Error ? error : new Error(String(error)));
  else {
    const { errorType, errorMessage, trace } = formatError(error);
    console.error(title, '\t' + JSON.stringify({ errorType, errorMessage, stack: trace }));
  }
}

// ---- the process dies on what the handler leaves uncaught, after reporting it
function fatal(error, exitCode) {
  try {
    send({ type: 'crash', requestId: currentRequestId, error: formatError(error) }, () => process.exit(exitCode));
  } catch {
    process.exit(exitCode);
  }
}
process.on('uncaughtException', (error) => {
  logError('Uncaught Exception', error);
  fatal(error, 129);
});
// The pool is gone (its process exited): so is the environment.
process.on('disconnect', () => process.exit(0));
process.on('unhandledRejection', (reason) => {
  const error = runtimeError('Runtime.UnhandledPromiseRejection', String(reason));
  logError('Unhandled Promise Rejection', error);
  fatal(error, 128);
});

// ---- init: load the handler
async function loadHandler(taskRoot, handlerString) {
  if (handlerString.includes('..')) {
    throw runtimeError(
      'Runtime.MalformedHandlerName',
      `'${handlerString}' is not a valid handler name. Use absolute paths when specifying root directories in handler names.`,
    );
  }
  const base = path.basename(handlerString);
  const moduleRoot = handlerString.slice(0, handlerString.indexOf(base));
  const match = /^([^.]*)\.(.*)$/.exec(base);
  if (match === null) throw runtimeError('Runtime.MalformedHandlerName', 'Bad handler');
  const [, moduleName, handlerName] = match;

  let mod;
  try {
    const full = path.resolve(taskRoot, moduleRoot, moduleName);
    for (const extension of ['', '.js', '.mjs', '.cjs']) {
      if (fs.existsSync(full + extension)) {
        mod = await import(full + extension);
        break;
      }
    }
    if (mod === undefined) {
      mod = require(require.resolve(moduleName, { paths: [taskRoot, path.join(taskRoot, moduleRoot)] }));
    }
  } catch (error) {
    if (error instanceof SyntaxError) {
      const wrapped = runtimeError('Runtime.UserCodeSyntaxError', String(error));
      wrapped.stack = error.stack;
      throw wrapped;
    }
    if (error instanceof Error && error.code === 'MODULE_NOT_FOUND') throw runtimeError('Runtime.ImportModuleError', String(error));
    throw error;
  }

  const find = (root) =>
    handlerName.split('.').reduce((nested, key) => (nested && typeof nested === 'object' ? nested[key] : undefined), root);
  let handler = find(mod);
  if (!handler && mod && typeof mod === 'object' && 'default' in mod) handler = find(mod.default);
  if (!handler) throw runtimeError('Runtime.HandlerNotFound', `${handlerString} is undefined or not exported`);
  if (typeof handler !== 'function') throw runtimeError('Runtime.HandlerNotFound', `${handlerString} is not a function`);
  if (handler.length >= 3 && !callbackHandlersSupported()) {
    throw runtimeError(
      'Runtime.CallbackHandlerDeprecated',
      'ERROR: AWS Lambda has removed support for callback-based function handlers starting with Node.js 24. You need to modify this function to use a supported handler signature to use Node.js 24 or later. For more information see https://docs.aws.amazon.com/lambda/latest/dg/nodejs-handler.html.',
    );
  }
  return handler;
}

/** Node.js 22 and older runtimes still call (event, context, callback) handlers; 24 refuses them at init. */
function callbackHandlersSupported() {
  const match = /^AWS_Lambda_nodejs(\d+)\.x$/.exec(process.env.AWS_EXECUTION_ENV || '');
  return match !== null && Number(match[1]) <= 22;
}

// ---- invocations
function createContext(message) {
  const unsupported = () => {
    throw new Error('context.done/succeed/fail are not supported: return a value or a promise');
  };
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    invokedFunctionArn: message.invokedFunctionArn,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    awsRequestId: message.requestId,
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    clientContext: message.clientContext,
    identity: message.identity,
    getRemainingTimeInMillis: () => Math.max(0, message.deadlineMs - Date.now()),
    done: unsupported,
    fail: unsupported,
    succeed: unsupported,
  };
}

function callHandler(handler, event, context) {
  if (handler.length < 3) return Promise.resolve().then(() => handler(event, context));
  // Node.js 22 and older: a callback-style handler answers through the callback or a promise it returns.
  return new Promise((resolve, reject) => {
    const callback = (error, result) => (error !== undefined && error !== null ? reject(error) : resolve(result));
    const returned = handler(event, context, callback);
    if (returned && typeof returned.then === 'function') returned.then(resolve, reject);
  });
}

async function invoke(handler, message) {
  currentRequestId = message.requestId;
  let response;
  try {
    const result = await callHandler(handler, JSON.parse(message.event), createContext(message));
    let payload;
    try {
      payload = JSON.stringify(result === undefined ? null : result);
    } catch {
      throw runtimeError('Runtime.JSONStringifyError', 'Unable to stringify response body');
    }
    response = { type: 'result', requestId: message.requestId, payload };
  } catch (error) {
    logError('Invoke Error', error);
    response = { type: 'error', requestId: message.requestId, error: formatError(error) };
  }
  // As the runtime does, answer after what the handler scheduled for "right now" (setImmediate) ran.
  await new Promise((resolve) => setImmediate(resolve));
  response.maxRssKb = process.resourceUsage().maxRSS;
  send(response);
}

async function main() {
  let handler;
  try {
    handler = await loadHandler(process.env.LAMBDA_TASK_ROOT, process.env._HANDLER);
  } catch (error) {
    logError('Init Error', error);
    send({ type: 'init-error', error: formatError(error) }, () => process.exit(1));
    return;
  }
  process.on('message', (message) => {
    if (message && message.type === 'invoke') void invoke(handler, message);
  });
  send({ type: 'ready', initDurationMs: performance.now() });
}

void main();
