// Token ids from transformers.js (an independent implementation) for texts.json.
//   cd <scratch> && npm install --ignore-scripts @huggingface/transformers@3
//   NODE_PATH=<scratch>/node_modules node tests/reference/unigram/make_goldens.mjs DIR OUT.json
// DIR holds tokenizer.json (+ tokenizer_config.json). Ids are tokenizer.encode(text), which
// adds the post-processor's </s> as transformers' tokenizer(text) does.
import fs from "fs";
import path from "path";
import { createRequire } from "module";
const require = createRequire(process.env.NODE_PATH + "/");
const { PreTrainedTokenizer } = require("@huggingface/transformers");

const [dir, out] = process.argv.slice(2);
const here = path.dirname(new URL(import.meta.url).pathname);
const texts = JSON.parse(fs.readFileSync(path.join(here, "texts.json"), "utf8"));
const tj = JSON.parse(fs.readFileSync(path.join(dir, "tokenizer.json"), "utf8"));
const cfgPath = path.join(dir, "tokenizer_config.json");
const cfg = fs.existsSync(cfgPath) ? JSON.parse(fs.readFileSync(cfgPath, "utf8")) : {};
const tok = new PreTrainedTokenizer(tj, cfg);
const res = texts.map((t) => ({ text: t, ids: tok.encode(t) }));
fs.writeFileSync(out, JSON.stringify({ source: "transformers.js " + JSON.parse(fs.readFileSync(path.join(process.env.NODE_PATH, "@huggingface/transformers/package.json"), "utf8")).version, tokenizer: path.basename(dir), cases: res }, null, 0) + "\n");
console.log(`${res.length} texts -> ${out}`);
