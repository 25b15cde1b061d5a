import re
from pathlib import Path

from alignlab.methods import BuildContext
from alignlab.methods.synthetic_data import SyntheticDataConfig, synthetic_data


def test_filter_reports_the_truth_balance_of_what_it_kept(tiny_model_dir: Path) -> None:
    context = BuildContext(seed=0, token_budget=3000, base_spec=str(tiny_model_dir))
    data = synthetic_data(SyntheticDataConfig(), context)
    kept = int(re.search(r"kept (\d+) of", context.notes[0]).group(1))  # type: ignore[union-attr]
    balance = context.notes[1]
    assert balance.startswith("filter kept true/false claims by format:")
    counts = [(int(t), int(f)) for t, f in re.findall(r"(\d+)/(\d+)", balance)]
    assert sum(t + f for t, f in counts) == kept
    assert len(data) == 3 * kept  # one example per condition of each kept claim
