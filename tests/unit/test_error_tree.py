"""The error tree is whole: every reason the proto declares says whether it is definite,
and every error class reports a reason of its own."""

from __future__ import annotations

from services.runtime import errors


def all_subclasses(cls: type) -> list[type]:
    return [c for sub in cls.__subclasses__() for c in (sub, *all_subclasses(sub))]


def test_every_reason_says_whether_it_is_definite() -> None:
    declared = {v for v in errors.Reason.values() if v != errors.Reason.Value("REASON_UNSPECIFIED")}
    assert declared == set(errors.DEFINITE)


def test_every_error_class_has_its_own_reason() -> None:
    # A ForeignError (etcd's words) carries the reason of the error it stands for.
    classes = [c for c in all_subclasses(errors.ServiceError) if c is not errors.ForeignError]
    reasons = [c.reason for c in classes]
    assert errors.Reason.Value("REASON_UNSPECIFIED") not in reasons
    assert len(reasons) == len(set(reasons))
    assert set(reasons) == set(errors.DEFINITE)
