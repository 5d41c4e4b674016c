// nlp.js (npm @nlpjs/sentiment with @nlpjs/lang-fr and -en) as a peer of
// `sentiment-eval`: reads `lang<TAB>text` lines on stdin, prints one label per line
// from the analyser's vote.
const { containerBootstrap } = require('@nlpjs/core');
const { SentimentAnalyzer } = require('@nlpjs/sentiment');
const { LangFr } = require('@nlpjs/lang-fr');
const { LangEn } = require('@nlpjs/lang-en');
const readline = require('readline');

(async () => {
  const container = await containerBootstrap();
  container.use(LangFr);
  container.use(LangEn);
  const analyzer = new SentimentAnalyzer({ container });
  const labels = { positive: 'pos', negative: 'neg', neutral: 'neu' };
  const out = [];
  for await (const line of readline.createInterface({ input: process.stdin })) {
    const tab = line.indexOf('\t');
    const result = await analyzer.process({ locale: line.slice(0, tab), text: line.slice(tab + 1) });
    out.push(labels[result.sentiment.vote] || 'neu');
  }
  process.stdout.write(out.join('\n') + (out.length ? '\n' : ''));
})();
