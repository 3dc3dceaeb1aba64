// Upload an image with the Files API and ask about it, as the image page's JS example does.
// Only GOOGLE_GEMINI_BASE_URL and GEMINI_API_KEY point it at sightd.
import { GoogleGenAI, createUserContent, createPartFromUri } from "@google/genai";
import * as fs from "node:fs";

const ai = new GoogleGenAI({});
const [imagePath] = process.argv.slice(2);

const myfile = await ai.files.upload({ file: imagePath, config: { mimeType: "image/jpeg" } });
const got = await ai.files.get({ name: myfile.name });
if (got.state !== "ACTIVE" && got.state !== "PROCESSING") throw new Error(`state ${got.state}`);

const response = await ai.models.generateContent({
  model: "gemini-2.5-flash",
  contents: createUserContent([createPartFromUri(myfile.uri, myfile.mimeType), "Caption this image."]),
});
console.log(JSON.stringify({ name: myfile.name, uri: myfile.uri, text: response.text,
  usage: response.usageMetadata }));

const inline = await ai.models.generateContent({
  model: "gemini-2.5-flash",
  contents: [
    { inlineData: { mimeType: "image/jpeg", data: fs.readFileSync(imagePath, { encoding: "base64" }) } },
    { text: "Caption this image." },
  ],
});
console.log(JSON.stringify({ inline: inline.text }));
