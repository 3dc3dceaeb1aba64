// The Vercel AI SDK (`ai` + `@ai-sdk/google`) calling tools through generateText against a
// Gemini endpoint (a live sightd, or tests/frameworks' recorder).
//   node ai_sdk_tools.mjs BASE_URL(.../v1beta) auto|required RUNS [MODEL]
// `auto`: the model may call get_weather (executed; the loop runs a second step to send the
// result back). `required`: toolChoice "required" (Gemini mode ANY), one step.
// `jsonSchema()` without a validate function makes the SDK only JSON-parse a call's args (it
// passes `{}` or even a string to execute), so each call is checked here against the schema.
// Prints one JSON line per run, then a summary line {"runs", "valid", "invalid": [...]}.
import { generateText, jsonSchema, stepCountIs, tool } from "ai";
import { createGoogleGenerativeAI } from "@ai-sdk/google";

const [baseURL, mode = "auto", runsArg = "1", modelId = "gemini-2.5-flash"] = process.argv.slice(2);
const runs = Number(runsArg);
const google = createGoogleGenerativeAI({ baseURL, apiKey: "test-key" });

const weatherSchema = {
  type: "object",
  properties: { city: { type: "string" } },
  required: ["city"],
  additionalProperties: false,
};
const executed = [];
const tools = {
  get_weather: tool({
    description: "Return the current weather in a city.",
    inputSchema: jsonSchema(weatherSchema),
    execute: async ({ city }) => {
      executed.push(city);
      return { city, temperature_c: 21 };
    },
  }),
};

// The tool's JSON schema, checked by hand: an object with a string `city` and nothing else.
const validInput = (input) =>
  input !== null &&
  typeof input === "object" &&
  !Array.isArray(input) &&
  typeof input.city === "string" &&
  Object.keys(input).every((k) => k === "city");

let valid = 0;
const invalid = [];
for (let seed = 0; seed < runs; seed++) {
  try {
    const result = await generateText({
      model: google(modelId),
      prompt: "What is the weather in Paris? Use the tool.",
      tools,
      toolChoice: mode,
      stopWhen: stepCountIs(mode === "required" ? 1 : 2),
      seed,
      temperature: 1,
      maxRetries: 0,
    });
    const steps = result.steps.map((s) => ({
      finishReason: s.finishReason,
      toolCalls: s.toolCalls.map((c) => ({ toolName: c.toolName, input: c.input, id: c.toolCallId })),
      // Calls the SDK could not parse or validate surface as tool errors / invalid dynamic calls.
      toolErrors: s.content.filter((p) => p.type === "tool-error").map((p) => String(p.error)),
      text: s.text,
    }));
    const first = steps[0];
    const callsOk =
      first.toolErrors.length === 0 &&
      first.toolCalls.every((c) => c.toolName === "get_weather" && validInput(c.input));
    // ANY mode: at least one call, finishReason "tool-calls" (the SDK only runs tools then).
    const ok =
      callsOk &&
      (mode !== "required" || (first.toolCalls.length > 0 && first.finishReason === "tool-calls"));
    if (ok) valid++;
    else invalid.push({ seed, steps });
    console.log(JSON.stringify({ seed, ok, steps }));
  } catch (err) {
    invalid.push({ seed, error: String(err?.stack ?? err).slice(0, 2000) });
    console.log(JSON.stringify({ seed, ok: false, error: String(err).slice(0, 2000) }));
  }
}
console.log(JSON.stringify({ runs, valid, executed: executed.length, invalid: invalid.slice(0, 5) }));
