// lambdashift's Node.js runtime client: runs a Lambda handler through the Runtime API
// (2018-06-01) at AWS_LAMBDA_RUNTIME_API, as AWS's Node.js runtime does.
//
// _HANDLER is "path/file.export": file is file.js, file.mjs or file.cjs under LAMBDA_TASK_ROOT,
// loaded with import() (so ESM and CommonJS both work). A handler may be async (or return a
// promise) or take a callback as its third argument. console.* lines carry the timestamp,
// request id and level, as on AWS; an error is logged with its stack and posted with AWS's
// shape {errorType, errorMessage, trace}.
import net from "node:net";
import fs from "node:fs";
import path from "node:path";
import util from "node:util";
import { pathToFileURL } from "node:url";

const API = process.env.AWS_LAMBDA_RUNTIME_API;
const ROOT = process.env.LAMBDA_TASK_ROOT || process.cwd();
const HANDLER = process.env._HANDLER || "";
const BASE = "/2018-06-01/runtime";
const [host, port] = API.split(":");

let requestId = "";

// One keep-alive HTTP/1.1 connection to the Runtime API. Requests are pipelined: an
// invocation's response and the next GET go out in one write, which saves a round trip
// per invocation (answers come back in order, as HTTP/1.1 requires).
class Connection {
  constructor() {
    this.buffer = Buffer.alloc(0);
    this.waiters = [];
    this.socket = net.connect({ host, port: Number(port) });
    this.socket.setNoDelay(true);
    this.socket.on("data", (data) => {
      this.buffer = this.buffer.length ? Buffer.concat([this.buffer, data]) : data;
      this.pump();
    });
    const fail = (err) => {
      for (const w of this.waiters.splice(0)) w.reject(err || new Error("runtime API closed"));
    };
    this.socket.on("error", fail);
    this.socket.on("close", () => fail());
  }

  pump() {
    while (this.waiters.length) {
      const end = this.buffer.indexOf("\r\n\r\n");
      if (end < 0) return;
      const lines = this.buffer.toString("latin1", 0, end).split("\r\n");
      const headers = {};
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(":");
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      const length = Number(headers["content-length"] || 0);
      if (this.buffer.length < end + 4 + length) return;
      const body = this.buffer.subarray(end + 4, end + 4 + length);
      this.buffer = this.buffer.subarray(end + 4 + length);
      this.waiters.shift().resolve({ status: Number(lines[0].split(" ")[1]), headers, body });
    }
  }

  // Send the requests in one write; one promise per answer.
  send(...requests) {
    const chunks = [];
    const answers = requests.map(({ method, route, body, headers = {} }) => {
      const data = body === undefined ? Buffer.alloc(0) : Buffer.from(body);
      const head = [`${method} ${BASE}${route} HTTP/1.1`, `Host: ${API}`,
                    `Content-Length: ${data.length}`,
                    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
      chunks.push(Buffer.from(head.join("\r\n") + "\r\n\r\n", "latin1"), data);
      return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
    });
    this.socket.write(Buffer.concat(chunks));
    return answers;
  }
}

const NEXT = { method: "GET", route: "/invocation/next" };

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

function checkAck(answer) {
  answer.then((r) => {
    if (r.status !== 202) fs.writeSync(2, `runtime API answered ${r.status}: ${r.body}\n`);
  }, () => {});
}

async function main() {
  patchConsole();
  const api = new Connection();
  let handler;
  try {
    handler = await loadHandler();
  } catch (err) {
    const obj = errorObject(err);
    logError("Init Error \t", obj);
    const [answer] = api.send({ method: "POST", route: "/init/error", body: JSON.stringify(obj),
                                headers: { "Lambda-Runtime-Function-Error-Type": obj.errorType } });
    await answer;
    process.exit(1);
  }
  let [pending] = api.send(NEXT);
  for (;;) {
    const next = await pending;
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
      outcome = { method: "POST", route: `/invocation/${id}/response`, body };
    } catch (err) {
      const obj = errorObject(err);
      logError("Invoke Error \t", obj);
      outcome = { method: "POST", route: `/invocation/${id}/error`, body: JSON.stringify(obj),
                  headers: { "Lambda-Runtime-Function-Error-Type": obj.errorType } };
    }
    const [ack, following] = api.send(outcome, NEXT);
    checkAck(ack);
    pending = following;
  }
}

main().catch((err) => {
  fs.writeSync(2, `lambdashift runtime client failed: ${err && err.stack || err}\n`);
  process.exit(1);
});
