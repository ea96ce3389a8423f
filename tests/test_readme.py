import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_python_example_runs(capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= 2
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
    out = capsys.readouterr().out
    assert "completed" in out
    record = namespace["record"]
    assert record.test_metric >= 0.9
    assert set(namespace["weights"]) == {"0.weight", "0.bias", "2.weight", "2.bias"}


def test_the_quick_start_has_exactly_the_two_commands():
    quick = README.read_text().split("## Quick start")[1].split("##")[0]
    commands = re.findall(r"```sh\n(.*?)```", quick, flags=re.S)[0].strip().splitlines()
    assert [line.split()[0:2] for line in commands] == [["make", "run"], ["make", "test"]]
