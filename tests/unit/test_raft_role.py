"""The Raft role is one enum from the core to the CLI: the wire's numbers, a mark each."""

from faultlab.admin.v1 import admin_pb2

from cluster.cli.status import ROLE_MARK, role_mark
from services.raft.role import Role


def test_every_role_has_the_wire_number_of_its_name() -> None:
    wire = {
        name.removeprefix("RAFT_ROLE_"): number
        for name, number in admin_pb2.RaftRole.items()
        if number != admin_pb2.RAFT_ROLE_UNSPECIFIED
    }
    assert wire == {role.name: role.value for role in Role}


def test_the_status_table_marks_every_role_and_names_an_unknown_one() -> None:
    assert set(ROLE_MARK) == set(Role)
    assert role_mark(admin_pb2.RAFT_ROLE_PRE_CANDIDATE) == "[yellow]P[/]"
    assert role_mark(99) == "?99"


def test_a_role_reads_as_people_write_it() -> None:
    assert Role.PRE_CANDIDATE.label == "pre-candidate"
    assert Role.LEADER.label == "leader"
