"""VADER (PyPI vaderSentiment) as a peer of `sentiment-eval`: reads `lang<TAB>text`
lines on stdin, prints one label per line (compound >= 0.05 pos, <= -0.05 neg, as
VADER's authors advise)."""
import sys

sys.path.insert(0, sys.argv[1])
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer  # noqa: E402

analyzer = SentimentIntensityAnalyzer()
for line in sys.stdin:
    text = line.rstrip("\n").split("\t", 1)[-1]
    compound = analyzer.polarity_scores(text)["compound"]
    print("pos" if compound >= 0.05 else "neg" if compound <= -0.05 else "neu")
