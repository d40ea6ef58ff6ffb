// GET /node: a Node.js handler (ESM, async), run with the machine's node through the
// Lambda Runtime API, as AWS's nodejs20.x runs it.
export const handler = async (event, context) => {
  if (event.queryStringParameters?.fail) {
    throw new Error("asked to fail");
  }
  return {
    statusCode: 200,
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ runtime: "node", release: process.env.RELEASE,
                           version: context.functionVersion }),
  };
};
