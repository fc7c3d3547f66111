"""Random edits of a valid definition file, as a developer's slips would make them: lines deleted,
duplicated, swapped, garbled, keys inserted, the file cut short. The validators' fuzz tests share it."""

from collections.abc import Sequence

from hypothesis import strategies as st


def mutated(lines: Sequence[str], junk: st.SearchStrategy[str], keys: st.SearchStrategy[str],
            values: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    @st.composite
    def edit(draw: st.DrawFn) -> str:
        edited = list(lines)
        for _ in range(draw(st.integers(1, 4))):
            if not edited:
                break
            index = draw(st.integers(0, len(edited) - 1))
            action = draw(st.sampled_from(["delete", "duplicate", "swap", "replace", "insert", "truncate"]))
            if action == "delete":
                del edited[index]
            elif action == "duplicate":
                edited.insert(index, edited[index])
            elif action == "swap":
                other = draw(st.integers(0, len(edited) - 1))
                edited[index], edited[other] = edited[other], edited[index]
            elif action == "replace":
                line = edited[index]
                at = draw(st.integers(0, len(line)))
                edited[index] = line[:at] + draw(junk) + line[at + draw(st.integers(0, 3)):]
            elif action == "insert":
                edited.insert(index, f"{draw(keys)} = {draw(values)}\n")
            else:
                text = "".join(edited)
                return text[:draw(st.integers(0, len(text)))]
        return "".join(edited)

    return edit()
