// lambdashift's Node.js runtime client: runs a Lambda handler through the Runtime API
// (2018-06-01) at AWS_LAMBDA_RUNTIME_API, as AWS's Node.js runtime does.
//
// _HANDLER is "path/file.export": file is file.js, file.mjs or file.cjs under LAMBDA_TASK_ROOT,
// loaded with import() (so ESM and CommonJS both work). A handler may be async (or return a
// promise) or take a callback as its third argument. console.* lines carry the timestamp,
// request id and level, as on AWS; an error is logged with its stack and posted with AWS's
// shape {errorType, errorMessage, trace}.
import http from "node:http";
import fs from "node:fs";
import path from "node:path";
import util from "node:util";
import { pathToFileURL } from "node:url";

const API = process.env.AWS_LAMBDA_RUNTIME_API;
const ROOT = process.env.LAMBDA_TASK_ROOT || process.cwd();
const HANDLER = process.env._HANDLER || "";
const BASE = "/2018-06-01/runtime";
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const [host, port] = API.split(":");

let requestId = "";

function request(method, route, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(body);
    const req = http.request(
      { host, port: Number(port), method, path: BASE + route, agent,
        headers: data ? { ...headers, "Content-Length": data.length } : headers },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode, headers: res.headers,
                                      body: Buffer.concat(chunks) }));
        res.on("error", reject);
      });
    req.on("error", reject);
    if (data) req.write(data);
    req.end();
  });
}

function patchConsole() {
  const write = (level) => (...args) => {
    const line = util.format(...args).replace(/\n/g, "\r");
    fs.writeSync(1, `${new Date().toISOString()}\t${requestId || "undefined"}\t${level}\t${line}\n`);
  };
  console.log = write("INFO");
  console.info = write("INFO");
  console.warn = write("WARN");
  console.error = write("ERROR");
  console.debug = write("DEBUG");
  console.trace = write("TRACE");
}

function errorObject(err) {
  if (err instanceof Error) {
    return { errorType: err.name || "Error", errorMessage: err.message,
             trace: String(err.stack || "").split("\n") };
  }
  return { errorType: typeof err === "string" ? "string" : typeof err,
           errorMessage: typeof err === "string" ? err : JSON.stringify(err) ?? String(err),
           trace: [] };
}

function logError(prefix, obj) {
  // AWS's runtime logs the error with its stack, so it shows in CloudWatch.
  const shown = { errorType: obj.errorType, errorMessage: obj.errorMessage, stack: obj.trace };
  console.error(prefix, JSON.stringify(shown));
}

class UserError extends Error {
  constructor(name, message) { super(message); this.name = name; }
}

async function loadHandler() {
  const dot = HANDLER.lastIndexOf(".");
  if (dot <= 0) throw new UserError("Runtime.MalformedHandlerName", `Bad handler ${HANDLER}`);
  const modulePath = HANDLER.slice(0, dot);
  const exportPath = HANDLER.slice(dot + 1);
  const base = path.resolve(ROOT, modulePath);
  const file = [".js", ".mjs", ".cjs"].map((ext) => base + ext).find((f) => fs.existsSync(f));
  if (!file) {
    throw new UserError("Runtime.ImportModuleError",
      `Error: Cannot find module '${path.basename(modulePath)}'\nRequire stack:\n- ${ROOT}`);
  }
  let mod;
  try {
    mod = await import(pathToFileURL(file).href);
  } catch (err) {
    if (err instanceof SyntaxError) {
      throw Object.assign(new UserError("Runtime.UserCodeSyntaxError", String(err)),
                          { stack: err.stack });
    }
    throw err;
  }
  let fn = mod[exportPath];
  if (fn === undefined && mod.default) fn = mod.default[exportPath];
  if (typeof fn !== "function") {
    throw new UserError("Runtime.HandlerNotFound",
      `${modulePath}.${exportPath} is undefined or not exported`);
  }
  return fn;
}

function makeContext(headers) {
  const deadline = Number(headers["lambda-runtime-deadline-ms"]);
  const env = process.env;
  const parse = (v) => { try { return v ? JSON.parse(v) : undefined; } catch { return undefined; } };
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION,
    invokedFunctionArn: headers["lambda-runtime-invoked-function-arn"],
    memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    awsRequestId: headers["lambda-runtime-aws-request-id"],
    logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME,
    clientContext: parse(headers["lambda-runtime-client-context"]),
    identity: parse(headers["lambda-runtime-cognito-identity"]),
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
}

function run(handler, event, context) {
  return new Promise((resolve, reject) => {
    let settled = false;
    const done = (err, result) => {
      if (settled) return;
      settled = true;
      if (err !== undefined && err !== null) reject(err); else resolve(result);
    };
    context.done = done;
    context.succeed = (result) => done(null, result);
    context.fail = (err) => done(err ?? "handled");
    try {
      const returned = handler(event, context, done);
      if (returned && typeof returned.then === "function") {
        returned.then((r) => done(null, r), (e) => done(e ?? "rejected"));
      } else if (handler.length < 3) {
        done(null, returned);
      }
    } catch (err) {
      done(err);
    }
  });
}

async function main() {
  patchConsole();
  let handler;
  try {
    handler = await loadHandler();
  } catch (err) {
    const obj = errorObject(err);
    logError("Init Error \t", obj);
    await request("POST", "/init/error", JSON.stringify(obj),
                  { "Lambda-Runtime-Function-Error-Type": obj.errorType });
    process.exit(1);
  }
  for (;;) {
    const next = await request("GET", "/invocation/next");
    if (next.status !== 200) {
      fs.writeSync(2, `runtime API answered ${next.status} to next: ${next.body}\n`);
      process.exit(1);
    }
    requestId = next.headers["lambda-runtime-aws-request-id"];
    if (next.headers["lambda-runtime-trace-id"]) {
      process.env._X_AMZN_TRACE_ID = next.headers["lambda-runtime-trace-id"];
    }
    const id = requestId;
    let outcome;
    try {
      const raw = next.body.toString("utf8");
      const event = raw.trim() ? JSON.parse(raw) : {};
      const result = await run(handler, event, makeContext(next.headers));
      const body = JSON.stringify(result === undefined ? null : result);
      outcome = request("POST", `/invocation/${id}/response`, body);
    } catch (err) {
      const obj = errorObject(err);
      logError("Invoke Error \t", obj);
      outcome = request("POST", `/invocation/${id}/error`, JSON.stringify(obj),
                        { "Lambda-Runtime-Function-Error-Type": obj.errorType });
    }
    await outcome;
  }
}

main().catch((err) => {
  fs.writeSync(2, `lambdashift runtime client failed: ${err && err.stack || err}\n`);
  process.exit(1);
});
