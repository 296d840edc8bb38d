// Writes the WordPiece test tokenizers and their golden ids, computed by the
// real Hugging Face `tokenizers` library (Rust, through the Node binding
// @anush008/tokenizers, which wraps tokenizers 0.22).
//
//   npm install --prefix tools/tokenizer_goldens   (see package.json)
//   node tools/tokenizer_goldens/gen_wordpiece.js <vocab.txt> <texts.json> <out dir>
//
// Output folders under <out dir>:
//   wordpiece_uncased/      tokenizer.json (BertNormalizer lowercase, strip_accents
//                           null, TemplateProcessing) + golden.json
//   wordpiece_cased/        tokenizer.json (no lowercase, BertProcessing,
//                           max_input_chars_per_word 50, extra added tokens with
//                           normalized / lstrip / rstrip / single_word) + golden.json
//   wordpiece_vocab/        vocab.txt + tokenizer_config.json (do_lower_case) + golden.json
//   wordpiece_vocab_cased/  vocab.txt + tokenizer_config.json (no lowercase, strip
//                           accents, no CJK padding) + golden.json
'use strict';
const fs = require('fs');
const path = require('path');
const hf = require('@anush008/tokenizers');

const [vocabPath, textsPath, outDir] = process.argv.slice(2);
const vocabLines = fs.readFileSync(vocabPath, 'utf8').split('\n');
if (vocabLines[vocabLines.length - 1] === '') vocabLines.pop();
const vocab = {};
vocabLines.forEach((t, i) => { vocab[t] = i; });
const inputs = JSON.parse(fs.readFileSync(textsPath, 'utf8'));

function special(content, id) {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false,
           special: true };
}
const SPECIALS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'].map((t) => special(t, vocab[t]));

function tokenizerJson({ lowercase, stripAccents, maxChars, post, extraAdded }) {
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIALS.concat(extraAdded || []),
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true,
                  strip_accents: stripAccents, lowercase },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: post,
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##',
             max_input_chars_per_word: maxChars, vocab },
  };
}

const cls = vocab['[CLS]'];
const sep = vocab['[SEP]'];
const TEMPLATE = {
  type: 'TemplateProcessing',
  single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } },
           { SpecialToken: { id: '[SEP]', type_id: 0 } }],
  pair: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } },
         { SpecialToken: { id: '[SEP]', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } },
         { SpecialToken: { id: '[SEP]', type_id: 1 } }],
  special_tokens: {
    '[CLS]': { id: '[CLS]', ids: [cls], tokens: ['[CLS]'] },
    '[SEP]': { id: '[SEP]', ids: [sep], tokens: ['[SEP]'] },
  },
};
const BERT_PROCESSING = { type: 'BertProcessing', sep: ['[SEP]', sep], cls: ['[CLS]', cls] };
const n = vocabLines.length;
const EXTRA_ADDED = [
  { id: n, content: '<ent>', single_word: false, lstrip: false, rstrip: false, normalized: true,
    special: false },
  { id: n + 1, content: '[RS]', single_word: false, lstrip: true, rstrip: true, normalized: false,
    special: true },
  { id: vocab['xyzzy'], content: 'xyzzy', single_word: true, lstrip: false, rstrip: false,
    normalized: false, special: false },
];

// Writes `obj` as tokenizer.json, loads it with HF and saves HF's own
// serialization over it (so the committed file is exactly what HF writes).
function writeTokenizerJson(dir, obj) {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'tokenizer.json');
  fs.writeFileSync(file, JSON.stringify(obj));
  hf.Tokenizer.fromFile(file).save(file, false);
  return hf.Tokenizer.fromFile(file);
}

// What transformers' BertTokenizerFast builds from vocab.txt + tokenizer_config.json.
async function vocabTokenizer(dir, config) {
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(vocabPath, path.join(dir, 'vocab.txt'));
  fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(config, null, 1) + '\n');
  const lowercase = config.do_lower_case !== undefined ? config.do_lower_case : true;
  const strip = config.strip_accents !== undefined && config.strip_accents !== null
    ? config.strip_accents : lowercase;
  const chinese = config.tokenize_chinese_chars !== undefined ? config.tokenize_chinese_chars : true;
  const model = await hf.WordPiece.fromFile(path.join(dir, 'vocab.txt'),
                                            { unkToken: '[UNK]', continuingSubwordPrefix: '##',
                                              maxInputCharsPerWord: 100 });
  const t = new hf.Tokenizer(model);
  t.setNormalizer(hf.bertNormalizer({ cleanText: true, handleChineseChars: chinese,
                                      stripAccents: strip, lowercase }));
  t.setPreTokenizer(hf.bertPreTokenizer());
  t.setPostProcessor(hf.templateProcessing('[CLS]:0 $A:0 [SEP]:0', '[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1',
                                           [['[CLS]', cls], ['[SEP]', sep]]));
  t.addSpecialTokens(['[UNK]', '[SEP]', '[CLS]', '[PAD]', '[MASK]']);
  return t;
}

const STRATEGY = { longest_first: 'LongestFirst', only_first: 'OnlyFirst',
                   only_second: 'OnlySecond' };

// Golden layout (shared with gen_sentencepiece.py): texts and pairs once,
// results refer to them by index.
async function goldens(t, texts) {
  const out = { texts, pair_inputs: inputs.pairs, tokenize: [], encode: [], pairs: [] };
  t.disableTruncation();
  for (const text of texts) {
    const e = await t.encode(text, null, { addSpecialTokens: false });
    out.tokenize.push({ ids: e.getIds(), tokens: e.getTokens() });
  }
  for (const ml of inputs.single_max_lengths) {
    t.setTruncation(ml, { strategy: 'LongestFirst' });
    for (let i = 0; i < texts.length; ++i) {
      const e = await t.encode(texts[i]);
      out.encode.push({ text: i, max_length: ml, ids: e.getIds(), type_ids: e.getTypeIds() });
    }
  }
  for (const strategy of inputs.strategies) {
    for (const ml of inputs.pair_max_lengths) {
      t.setTruncation(ml, { strategy: STRATEGY[strategy] });
      for (let i = 0; i < inputs.pairs.length; ++i) {
        const [a, b] = inputs.pairs[i];
        const g = { pair: i, max_length: ml, strategy };
        try {
          const e = await t.encode(a, b);
          g.ids = e.getIds();
          g.type_ids = e.getTypeIds();
        } catch (err) {
          g.hf_error = String(err.message || err);
        }
        out.pairs.push(g);
      }
    }
  }
  t.disableTruncation();
  return out;
}

function writeGolden(dir, description, g) {
  g.description = description;
  g.generator = 'tools/tokenizer_goldens/gen_wordpiece.js (HF tokenizers 0.22 via @anush008/tokenizers 0.6.0)';
  fs.writeFileSync(path.join(dir, 'golden.json'), JSON.stringify(g) + '\n');
}

async function main() {
  const texts = inputs.texts;
  let dir = path.join(outDir, 'wordpiece_uncased');
  let t = writeTokenizerJson(dir, tokenizerJson({ lowercase: true, stripAccents: null, maxChars: 100,
                                                  post: TEMPLATE }));
  writeGolden(dir, 'tokenizer.json, BertNormalizer lowercase, strip_accents null', await goldens(t, texts));

  dir = path.join(outDir, 'wordpiece_cased');
  t = writeTokenizerJson(dir, tokenizerJson({ lowercase: false, stripAccents: null, maxChars: 50,
                                              post: BERT_PROCESSING, extraAdded: EXTRA_ADDED }));
  writeGolden(dir, 'tokenizer.json, cased, BertProcessing, extra added tokens',
              await goldens(t, texts.concat(inputs.added_token_texts)));

  dir = path.join(outDir, 'wordpiece_vocab');
  t = await vocabTokenizer(dir, { do_lower_case: true });
  writeGolden(dir, 'vocab.txt, do_lower_case', await goldens(t, texts));

  dir = path.join(outDir, 'wordpiece_vocab_cased');
  t = await vocabTokenizer(dir, { do_lower_case: false, strip_accents: true,
                                  tokenize_chinese_chars: false });
  writeGolden(dir, 'vocab.txt, cased, strip_accents, no CJK padding', await goldens(t, texts));
}

main().catch((e) => { console.error(e); process.exit(1); });
