"""The one batch form: kubectl's taint syntax with precise messages, every error beside its field, one set of drain
defaults for the page, the command line and the API; the preview that runs only what it showed, needs an
acknowledgement for nodes that will not drain, retries through itself and leads back to where the batch came from.
(Django test client against the simulator.)"""
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import Group, User
from django.core.exceptions import ValidationError
from django.http import QueryDict

from nodes import batches, services
from nodes.forms import (
    BatchActionForm,
    TemplateForm,
    data_from_params,
    parse_label_keys,
    parse_labels,
    parse_taint,
    parse_taints,
)
from nodes.models import AuditEntry, LabelTaintTemplate
from nodes.templatetags.kn_batch import audit_changes, batch_params
from nodes.validation import DRAIN_DEFAULTS, validate_action
from progress.models import ProgressTask
from progress.templatetags.kn_tasks import status_text
from tests.progress.helpers import write_results

pytestmark = pytest.mark.django_db
ACTION = "/clusters/shared/nodes/action/"


def _login(client, name, group):
    user = User.objects.create_user(name, password="pw")
    user.groups.add(Group.objects.get(name=group))
    client.force_login(user)
    return user


def _messages(exc_info) -> list[str]:
    return exc_info.value.messages


# ---- the parsers -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, taint", [
    ("dedicated=gpu:NoSchedule", {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}),
    ("example.com/maint:NoExecute", {"key": "example.com/maint", "effect": "NoExecute"}),
    (" spot = yes : PreferNoSchedule ", {"key": "spot", "value": "yes", "effect": "PreferNoSchedule"}),
])
def test_taint_to_add_in_kubectl_syntax(text, taint):
    assert parse_taint(text) == taint


@pytest.mark.parametrize("text, message", [
    ("foo=bar:Sometimes", "'foo=bar:Sometimes': invalid effect 'Sometimes': must be NoSchedule, PreferNoSchedule or "
                          "NoExecute"),
    ("foo=bar:noschedule", "invalid effect 'noschedule' (did you mean NoSchedule?)"),
    ("maint=yes", "'maint=yes': a taint needs an effect: write maint=yes:Effect"),
    ("bad key=v:NoSchedule", "'bad key=v:NoSchedule': invalid taint key 'bad key'"),
    ("k=bad value!:NoSchedule", "invalid taint value 'bad value!'"),
    (":NoSchedule", "invalid taint key ''"),
])
def test_a_bad_taint_says_which_part_is_wrong(text, message):
    with pytest.raises(ValidationError) as exc:
        parse_taint(text)
    assert message in _messages(exc)[0]
    if "effect" in message:
        assert "value" not in _messages(exc)[0].split(":", 1)[1].replace("=value", "")


@pytest.mark.parametrize("text, taint", [
    ("maint", {"key": "maint", "effect": ""}),
    ("maint:NoSchedule", {"key": "maint", "effect": "NoSchedule"}),
    ("maint:NoSchedule-", {"key": "maint", "effect": "NoSchedule"}),  # kubectl taint … maint:NoSchedule-
    ("maint-", {"key": "maint", "effect": ""}),
    ("maint=yes:NoSchedule", {"key": "maint", "effect": "NoSchedule"}),  # as the node list shows it
])
def test_taint_to_remove_in_kubectl_syntax(text, taint):
    assert parse_taint(text, removal=True) == taint


def test_every_bad_item_is_reported_at_once():
    with pytest.raises(ValidationError) as exc:
        parse_taints("a=b:NoSchedule, c=d:Never, e=f, a=x:NoSchedule")
    assert len(_messages(exc)) == 3
    assert "'c=d:Never': invalid effect" in _messages(exc)[0]
    assert "'e=f': a taint needs an effect" in _messages(exc)[1]
    assert "'a=x:NoSchedule': taint a:NoSchedule is given twice" in _messages(exc)[2]
    with pytest.raises(ValidationError) as exc:
        parse_labels("team=a, bad key=x, tier, team=b")
    assert [m.split(":")[0] for m in _messages(exc)] == ["'bad key=x'", "'tier'", "'team=b'"]
    with pytest.raises(ValidationError) as exc:
        parse_label_keys("ok, a=b, -bad")
    assert len(_messages(exc)) == 2


# ---- the form ----------------------------------------------------------------------------------------------------

def test_page_data_parses_into_the_engine_parameters(cluster):
    form = BatchActionForm(QueryDict("action=taint&taints=dedicated%3Dgpu%3ANoSchedule&node=worker-0001"
                                     "&node=worker-0002&concurrency=3"), cluster=cluster)
    assert form.is_valid(), form.errors
    assert form.cleaned_data["params"] == {"taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]}
    assert form.target.names == ["worker-0001", "worker-0002"] and form.cleaned_data["concurrency"] == 3
    assert form.resolve_names() == ["worker-0001", "worker-0002"]


def test_errors_are_beside_their_fields_and_all_at_once(cluster):
    form = BatchActionForm(QueryDict("action=label&set=bad+key%3Dx&remove=a%3Db&concurrency=abc&node=worker-0001"),
                           cluster=cluster)
    assert not form.is_valid()
    assert set(form.errors) == {"set", "remove", "concurrency"}
    assert form.errors["concurrency"] == ["Concurrency must be a whole number from 1 to 20; 'abc' is not one"]
    assert "invalid label key 'bad key'" in form.errors["set"][0]
    html = str(form["set"])
    assert 'aria-invalid="true"' in html and 'aria-describedby="id_set_helptext id_set_error"' in html


def test_concurrency_limit_follows_the_action(cluster):
    form = BatchActionForm({"action": "drain", "node": ["worker-0001"], "concurrency": "6"}, cluster=cluster)
    assert not form.is_valid()
    assert form.errors["concurrency"] == ["Concurrency must be a whole number from 1 to 5; 6 is not"]
    assert form.fields["concurrency"].widget.attrs["max"] == "5"


def test_one_set_of_drain_defaults_for_the_page_the_command_line_and_the_api(cluster):
    from nodes.management.commands.node_batch import form_data

    assert validate_action("drain", {}) == {"reason": "", **DRAIN_DEFAULTS}
    page = BatchActionForm(cluster=cluster)  # what the page shows
    assert {name: page[name].initial for name in DRAIN_DEFAULTS if name != "pod_selector"} == \
        {k: v for k, v in DRAIN_DEFAULTS.items() if k != "pod_selector"}
    cli = {"action": "drain", "set": None, "remove": None, "taint": None, "template": None, "reason": "",
           "concurrency": "", "pod_selector": None, "nodes": "worker-0001", "selector": None,
           **{name: None for name in DRAIN_DEFAULTS if name != "pod_selector"}}
    form = BatchActionForm(form_data(cli), cluster=cluster)
    assert form.is_valid(), form.errors
    assert form.cleaned_data["params"] == {"reason": "", **DRAIN_DEFAULTS}
    assert DRAIN_DEFAULTS["ignore_daemonsets"] is True  # the page's former default, now everyone's


def test_json_values_of_an_api_parse_the_same(cluster):
    from nodes.forms import data_with_defaults

    form = BatchActionForm(data_with_defaults({
        "action": "drain", "node": ["worker-0001", "worker-0002"], "reason": "kernel", "timeout": 60, "force": True,
        "concurrency": 2}), cluster=cluster)
    assert form.is_valid(), form.errors
    assert form.cleaned_data["params"] == {**DRAIN_DEFAULTS, "reason": "kernel", "timeout": 60, "force": True}
    assert form.cleaned_data["concurrency"] == 2 and form.target.names == ["worker-0001", "worker-0002"]
    form = BatchActionForm({"action": "label", "set": ["a=b", "c=d"], "taints": ["t=v:NoSchedule"],
                            "selector": "pool=gpu"}, cluster=cluster)
    assert form.is_valid(), form.errors
    assert form.cleaned_data["params"]["set"] == {"a": "b", "c": "d"}
    assert form.target.selector == "pool=gpu" and form.target.names is None
    form = BatchActionForm({"action": "drain", "all_nodes": True, "timeout": True, "concurrency": "x"},
                           cluster=cluster)
    assert not form.is_valid() and set(form.errors) == {"timeout", "concurrency"}
    assert form.errors["timeout"] == ["Timeout (s) must be a whole number from 1 to 86400; True is not one"]


def test_a_template_applies_whole_and_typed_values_add_to_it(cluster):
    t = LabelTaintTemplate.objects.create(name="gpu", labels={"pool": "gpu"}, remove_labels=["old"],
                                          taints=[{"key": "gpu", "value": "true", "effect": "NoSchedule"}])
    form = BatchActionForm({"action": "label", "template": str(t.pk), "set": "team=ml", "node": ["worker-0001"]},
                           cluster=cluster)
    assert form.is_valid(), form.errors
    assert form.cleaned_data["params"] == {
        "set": {"pool": "gpu", "team": "ml"}, "remove": ["old"], "confirm_reserved": False,
        "taints": [{"key": "gpu", "value": "true", "effect": "NoSchedule"}]}
    form = BatchActionForm({"action": "unlabel", "template": str(t.pk), "node": ["worker-0001"]}, cluster=cluster)
    assert form.is_valid(), form.errors
    assert form.cleaned_data["params"]["taints"] == [{"key": "gpu", "effect": "NoSchedule"}]
    assert form.cleaned_data["params"]["remove"] == ["pool"]
    form = BatchActionForm({"action": "drain", "template": str(t.pk), "node": ["worker-0001"]}, cluster=cluster)
    assert not form.is_valid() and "a template applies with the label" in form.errors["template"][0]


def test_parameters_round_trip_through_form_data(cluster):
    for action, params in (("label", {"set": {"a": "b"}, "remove": ["c"], "confirm_reserved": True,
                                      "taints": [{"key": "t", "value": "v", "effect": "NoExecute"}]}),
                           ("untaint", {"taints": [{"key": "t", "effect": ""}]}),
                           ("drain", validate_action("drain", {"timeout": 60, "force": True, "reason": "r"}))):
        form = BatchActionForm({**data_from_params(action, params), "node": ["worker-0001"], "submitted": "1"},
                               cluster=cluster)
        assert form.is_valid(), form.errors
        assert form.cleaned_data["params"] == validate_action(action, params)


def test_template_form_shows_every_error_beside_its_field(db):
    form = TemplateForm({"name": "t", "labels_text": "bad key=x, ok=1", "remove_text": "a=b",
                         "taints_text": "foo=bar:Sometimes, x=y"})
    assert not form.is_valid()
    assert set(form.errors) == {"labels_text", "remove_text", "taints_text"}
    assert len(form.errors["taints_text"]) == 2 and "invalid effect 'Sometimes'" in form.errors["taints_text"][0]
    form = TemplateForm({"name": "t", "labels_text": "node-role.kubernetes.io/x=y"})
    assert not form.is_valid() and "reserved" in form.errors["labels_text"][0]


# ---- the preview and the run ---------------------------------------------------------------------------------------

def test_a_preview_runs_only_what_it_showed(client, cluster):
    _login(client, "op", "operator")
    r = client.post(ACTION, {"action": "label", "set": "flow=a", "node": ["worker-0001"], "submitted": "1"})
    assert r.status_code == 200
    previewed = r.context["previewed"]
    # the label was changed after the preview and Run was pressed: nothing runs, the new preview is shown
    r = client.post(ACTION, {"action": "label", "set": "flow=b", "targets": "worker-0001", "submitted": "1",
                             "previewed": previewed, "confirm": "yes"})
    assert r.status_code == 200 and not ProgressTask.objects.exists()
    assert "changed since the preview" in r.context["notice"]
    assert r.context["diff"][0]["changes"] == [("flow", None, "b")]
    r = client.post(ACTION, {"action": "label", "set": "flow=b", "targets": "worker-0001", "submitted": "1",
                             "previewed": r.context["previewed"], "confirm": "yes"})
    assert r.status_code == 302 and ProgressTask.objects.get().parameters["set"] == {"flow": "b"}


def test_error_heading_counts_the_selection(client, cluster):
    _login(client, "op", "operator")
    r = client.post(ACTION, {"action": "label", "set": "bad key!=v", "node": ["worker-0001", "worker-0002"]})
    assert r.status_code == 400
    assert "Label 2 nodes of shared" in r.content.decode()
    assert r.context["form"].errors["set"]


def test_cancel_and_run_lead_back_to_the_same_filtered_view(client, cluster):
    _login(client, "op", "operator")
    back = "/clusters/shared/nodes/?q=worker&status=Ready&per_page=50"
    r = client.post(ACTION, {"action": "cordon", "reason": "rack 4", "node": ["worker-0003", "worker-0004"],
                             "back": back, "submitted": "1", "q": "worker", "status": "Ready"})
    cancel = urlsplit(r.context["cancel_url"])
    query = parse_qs(cancel.query)
    assert cancel.path == "/clusters/shared/nodes/" and query["q"] == ["worker"] and query["per_page"] == ["50"]
    state = parse_qs(query["batch"][0])
    assert state["action"] == ["cordon"] and state["reason"] == ["rack 4"]
    assert state["node"] == ["worker-0003", "worker-0004"]
    # the list reads that state back into its batch form
    page = client.get(r.context["cancel_url"])
    assert page.context["batch_form"]["reason"].value() == "rack 4"
    assert '"worker-0003", "worker-0004"' in page.content.decode().replace("&quot;", '"')
    r = client.post(ACTION, {"action": "cordon", "reason": "rack 4", "targets": "worker-0003,worker-0004",
                             "back": back, "submitted": "1", "confirm": "yes", "previewed": r.context["previewed"]})
    landed = urlsplit(r["Location"])
    task = ProgressTask.objects.get()
    assert landed.path == "/clusters/shared/nodes/"
    assert parse_qs(landed.query)["task"] == [str(task.pk)] and parse_qs(landed.query)["q"] == ["worker"]


def test_back_never_leaves_the_site(client, cluster):
    _login(client, "op", "operator")
    for back in ("https://elsewhere.example/", "//elsewhere.example/x", "/admin/", "javascript:alert(1)"):
        r = client.get(ACTION, {"action": "cordon", "node": "worker-0001", "back": back})
        assert r.context["back"] == "/clusters/shared/nodes/", back


def test_a_link_opens_a_one_node_form_with_nothing_to_complain_about(client, cluster):
    _login(client, "op", "operator")
    r = client.get(ACTION, {"action": "label", "node": "worker-0005"})
    assert r.status_code == 200 and r.context["fresh"] and not r.context["form"].errors
    assert "Label worker-0005 of shared" in r.content.decode() and "Run label" not in r.content.decode()
    r = client.get(ACTION, {"action": "drain", "node": "worker-0005"})  # a drain previews at once, with defaults
    assert r.status_code == 403  # operators may not drain


def test_a_drain_with_nodes_that_will_not_drain_needs_an_acknowledgement(client, cluster):
    _login(client, "boss", "admin")
    plans = services.drain_plan(cluster, [f"worker-{i:04d}" for i in range(1, 28)], {})
    blocked = next(p["node"] for p in plans if not p["ok"])
    free = next(p["node"] for p in plans if p["ok"])
    r = client.post(ACTION, {"action": "drain", "node": [blocked, free], "submitted": "1", "ignore_daemonsets": "on",
                             "timeout": "30", "grace_period": "-1", "skip_wait_for_delete_timeout": "0"})
    summary = r.context["summary"]
    assert summary["blocked"] == 1 and summary["ok"] == 1 and summary["reasons"][0]["nodes"] == [blocked]
    assert "1 of 2 nodes will not drain" in r.content.decode()
    data = {"action": "drain", "targets": f"{blocked},{free}", "submitted": "1", "ignore_daemonsets": "on",
            "timeout": "30", "grace_period": "-1", "skip_wait_for_delete_timeout": "0", "confirm": "yes",
            "previewed": r.context["previewed"], "blocked_nodes": "1"}
    r = client.post(ACTION, data)
    assert r.status_code == 200 and "Run anyway" in r.context["ack_error"] and not ProgressTask.objects.exists()
    r = client.post(ACTION, {**data, "accept_blocked": "on"})
    assert r.status_code == 302 and ProgressTask.objects.get().total == 2


def test_tick_an_option_and_preview_again(client, cluster):
    _login(client, "boss", "admin")
    r = client.post(ACTION, {"action": "drain", "select_all": "on", "submitted": "1", "ignore_daemonsets": "on",
                             "timeout": "30"})
    options = {reason["option"] for reason in r.context["summary"]["reasons"]} - {""}
    assert options, r.context["summary"]
    option = sorted(options)[0]
    r = client.post(ACTION, {"action": "drain", "targets": r.context["targets_text"], "submitted": "1",
                             "ignore_daemonsets": "on", "timeout": "30", "enable": option})
    assert r.context["form"].cleaned_data[option] is True
    assert option not in {reason["option"] for reason in r.context["summary"]["reasons"]}


def finish(task, results: list[tuple[str, bool]]):
    """The task's per-node results and its final message, written as the runner writes them."""
    from progress.writer import Event, flush_events

    write_results(task, results)
    flush_events(task.pk, [Event(type="complete")], final_status="failed")
    task.refresh_from_db()
    return task


def test_retry_goes_through_the_preview_and_stays_linked(client, cluster):
    user = _login(client, "op", "operator")
    task = batches.start_batch(user, cluster, "untaint", {"taints": [{"key": "never-there", "effect": ""}]},
                               names=["worker-0006", "worker-0007", "worker-0008"], queued=False)
    finish(task, [("worker-0006", False), ("worker-0007", True)])  # worker-0008 never ran
    r = client.get(ACTION, {"retry": str(task.pk), "which": "both"})
    assert r.status_code == 200 and r.context["count"] == 2 and "Retry: Untaint 2 nodes" in r.content.decode()
    assert r.context["targets_text"] == "worker-0006,worker-0008"
    assert r.context["form"]["taints"].value() == "never-there"
    assert f'name="retry" value="{task.pk}"' in r.content.decode()
    assert r.context["cancel_url"] == f"/progress/tasks/{task.pk}/"
    r = client.post(ACTION, {"retry": str(task.pk), "which": "both", "action": "untaint", "taints": "never-there",
                             "targets": "worker-0006,worker-0008", "submitted": "1", "confirm": "yes",
                             "previewed": r.context["previewed"]})
    assert r.status_code == 302
    retry = ProgressTask.objects.exclude(pk=task.pk).get()
    assert retry.retry_of_id == task.pk and r["Location"] == f"/progress/tasks/{retry.pk}/"
    assert retry.nodes == ["worker-0006", "worker-0008"]
    # changed on the preview (only the failed node, another taint): a new batch with what the preview showed
    r = client.get(ACTION, {"retry": str(task.pk), "which": "failed"})
    assert r.context["targets_text"] == "worker-0006"
    r = client.post(ACTION, {"retry": str(task.pk), "which": "failed", "action": "untaint", "taints": "other",
                             "targets": "worker-0006", "submitted": "1", "confirm": "yes"})
    newest = ProgressTask.objects.order_by("-created_at").first()
    assert r.status_code == 302 and newest.retry_of_id is None and newest.parameters["taints"][0]["key"] == "other"


def test_only_who_may_manage_the_task_opens_its_retry_preview(client, cluster):
    owner = _login(client, "owner", "viewer")  # started it as an operator, a viewer now
    task = ProgressTask.objects.create(user=owner, cluster_name="shared", action="cordon",
                                       nodes=["worker-0001"], total=1, status="failed")
    assert client.get(ACTION, {"retry": str(task.pk)}).status_code == 403
    _login(client, "other-op", "operator")
    assert client.get(ACTION, {"retry": str(task.pk)}).status_code == 404  # not theirs: not even seen
    assert not ProgressTask.objects.exclude(pk=task.pk).exists()


# ---- how batches read --------------------------------------------------------------------------------------------

def test_parameters_in_words():
    rows = dict(batch_params(validate_action("drain", {"reason": "kernel", "force": True, "timeout": 60}), "drain"))
    assert rows == {"Reason": "kernel", "Options": "ignore DaemonSets, force (unmanaged pods)",
                    "Grace period": "each pod's own", "Timeout": "60 s per node"}
    rows = dict(batch_params({"set": {"a": "b"}, "remove": [], "confirm_reserved": False,
                              "taints": [{"key": "t", "value": "", "effect": "NoSchedule"}]}, "label"))
    assert rows == {"Labels to set": "a=b", "Taints to add": "t:NoSchedule"}


def test_audit_changes_before_and_after(db):
    entry = AuditEntry(action="label", outcome="succeeded", before={"labels": {"team": None, "old": "x"},
                                                                     "taints": ["a:NoSchedule"]},
                       after={"labels": {"team": "blue", "old": None}, "taints": ["a:NoSchedule", "b=c:NoExecute"]})
    assert audit_changes(entry) == ["old: x → (removed)", "team: (none) → blue", "taint b=c:NoExecute added"]
    cordon = AuditEntry(action="cordon", outcome="succeeded", before={"unschedulable": False},
                        after={"unschedulable": True})
    assert audit_changes(cordon) == ["schedulable → cordoned"]
    drain = AuditEntry(action="drain", outcome="failed", before={"unschedulable": True},
                       after={"unschedulable": True, "pods": [{"action": "evicted"}, {"action": "evicted"},
                                                              {"action": "blocked"}]})
    assert audit_changes(drain) == ["pods: 1 blocked, 2 evicted"]


@pytest.mark.parametrize("status, total, failed, text", [
    ("succeeded", 3, 0, "completed"), ("failed", 3, 1, "completed with 1 failure"),
    ("failed", 3, 2, "completed with 2 failures"), ("failed", 3, 3, "failed"), ("failed", 3, 0, "failed"),
    ("cancelled", 3, 0, "cancelled"), ("interrupted", 3, 1, "interrupted"), ("running", 3, 1, "running"),
])
def test_one_wording_of_how_a_batch_ended(status, total, failed, text):
    assert status_text(status, total, failed) == text
