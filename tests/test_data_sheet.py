"""The sequence sheet reader: valid rows load in order, each bad input names file and line."""

import pytest

from smal4v.data.sheet import SheetError, load_sequence_sheet, sequences_in_split

HEADER = "name\tformat\tsource\tannotations\tsplit\n"


def _sheet(tmp_path, body):
    path = tmp_path / "seqs.tsv"
    path.write_text(HEADER + body)
    return path


def test_rows_and_splits(tmp_path):
    body = "b\tsmal4v\tv.mp4\ta\ttest\na\tbadja\tf/\tj.json\ttrain\nc\tbadja\tg/\tk.json\ttrain+test\n"
    rows = load_sequence_sheet(_sheet(tmp_path, body))
    assert list(rows) == ["b", "a", "c"]
    assert rows["a"].format == "badja" and rows["a"].ground_truth == ""
    assert sequences_in_split(rows, "test") == ["b", "c"]
    assert sequences_in_split(rows, "train") == ["a", "c"]


@pytest.mark.parametrize(
    "body, message",
    [
        ("a\tvideo\tv.mp4\ta\ttest\n", "format 'video'"),
        ("a\tsmal4v\tv.mp4\ta\tholdout\n", "split 'holdout'"),
        ("a\tsmal4v\tv.mp4\ta\ttrain+val\n", "split 'train\\+val'"),
        ("a\tsmal4v\tv.mp4\ta\ttest\na\tsmal4v\tw.mp4\ta\ttest\n", "line 3: duplicate"),
        ("a b\tsmal4v\tv.mp4\ta\ttest\n", "bad sequence name"),
        ("a\tsmal4v\t\ta\ttest\n", "empty source"),
    ],
)
def test_bad_rows_name_file_and_line(tmp_path, body, message):
    with pytest.raises(SheetError, match=message) as err:
        load_sequence_sheet(_sheet(tmp_path, body))
    assert "seqs.tsv" in str(err.value)


def test_missing_column_and_file(tmp_path):
    path = tmp_path / "s.tsv"
    path.write_text("name\tsource\na\tb\n")
    with pytest.raises(SheetError, match="missing column"):
        load_sequence_sheet(path)
    with pytest.raises(SheetError, match="not found"):
        load_sequence_sheet(tmp_path / "nope.tsv")


def test_results_placeholder(tmp_path):
    rows = load_sequence_sheet(_sheet(tmp_path, "a\tsynthetic\t{results}/demo/a/video.mp4\t{results}/demo/a/annotations\tgeneric\n"), "out/x")
    assert rows["a"].source == "out/x/demo/a/video.mp4"
    assert rows["a"].annotations == "out/x/demo/a/annotations"
