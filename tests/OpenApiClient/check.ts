// Type-checked by .ci/run against types generated from openapi.yaml (openapi-typescript): a client written the way the
// docs call the routes compiles, so the document is one a client can be generated from.
import type { components, paths } from "./hornbeam";

type Json<T> = T extends { content: { "application/json": infer B } } ? B : never;
type Problem = components["schemas"]["ProblemDetails"];

const counter: Json<paths["/state/incr/{key}"]["post"]["responses"][200]> = { key: "views:/home", value: 1 };
const entry: Json<paths["/state/{key}"]["get"]["responses"][200]> = { key: "user:123", value: { name: "Alice" } };
const hookCall: NonNullable<paths["/hooks/{app_path}/{action}"]["post"]["requestBody"]>["content"]["application/json"] = {
  args: ["hello"],
  kwargs: { max_tokens: 3 },
};
const call: NonNullable<paths["/functions/{name}/call"]["post"]["requestBody"]>["content"]["application/json"] = { args: [1, 2] };
const cached: NonNullable<paths["/ml/cached/{app_path}/{action}"]["post"]["requestBody"]>["content"]["application/json"] = {
  input: "some text",
};
const accepted: Json<paths["/hooks/{app_path}/{action}/async"]["post"]["responses"][202]> = { task_id: "t" };
const problem: Problem = { type: "urn:hornbeam:problem:invalid-input", status: 400, detail: "why" };

export { accepted, cached, call, counter, entry, hookCall, problem };
