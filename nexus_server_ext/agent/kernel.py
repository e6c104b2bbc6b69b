"""Run code in a notebook's own kernel, and checkpoint / restore the kernel's variables.

Every call opens a client with a jupyter_client ``Session`` of its own (as
``context.kernel_state`` does): clients sharing the manager's session share its
socket identity, and the kernel would send the notebook frontend's replies to
this short-lived client instead.

Checkpoints live inside the kernel process, in a module registered as
``sys.modules["_nexus_agent_checkpoints"]``: copying a DataFrame out to the
server and back would cost two serialisations and a round trip of its bytes.
They are made and restored by a silent execute whose one user expression runs
a small function in a throw-away namespace, so ``In``/``Out``, the execution
count and the notebook are untouched, and the answer comes back as JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
from ast import literal_eval
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from queue import Empty
from typing import Any

from jupyter_client.session import Session

from .outputs import DIED, Execution, OutputArea, execution_of

log = logging.getLogger(__name__)

# Runs in the kernel. Values are pickled together (one Pickler, one memo), so two names bound to
# the same object, or to parts of one, still share it after a restore; each value is first pickled
# alone into a counting sink to learn whether it can be copied and what it costs.
_IN_KERNEL = r"""
def call(op, key, max_bytes):
    import json, pickle, sys, types, warnings
    from IPython import get_ipython
    store = sys.modules.get("_nexus_agent_checkpoints")
    if store is None:
        store = types.ModuleType("_nexus_agent_checkpoints", "NEXUS agent: variables by checkpoint")
        store.checkpoints = {}
        sys.modules[store.__name__] = store
    shell = get_ipython()
    ns, hidden, unset = shell.user_ns, shell.user_ns_hidden, object()
    helpers = ("In", "Out", "exit", "quit", "get_ipython")

    def user_names():
        return [n for n, v in list(ns.items()) if not n.startswith("_") and n not in helpers
                and hidden.get(n, unset) is not v]

    def size(n):
        return f"{n / 1e6:.0f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB" if n >= 1e3 else f"{n} B"

    def a(word):
        return ("an " if word[:1] in "aeiou" else "a ") + word

    def by_reference(v):
        if isinstance(v, types.ModuleType):
            return "a module"
        if isinstance(v, type):
            return "a class"
        if isinstance(v, types.FunctionType) or (  # not bound methods: they are copied with their object
            isinstance(v, types.BuiltinFunctionType)
            and (v.__self__ is None or isinstance(v.__self__, types.ModuleType))
        ):
            return "a function"
        return None

    def known_size(v):
        if getattr(type(v), "nbytes", None) is not None:  # numpy arrays, pandas Series
            n = getattr(v, "nbytes", None)
            return n if isinstance(n, int) else None
        if type(v).__module__.startswith("pandas") and hasattr(type(v), "memory_usage"):
            try:
                return int(v.memory_usage(index=True, deep=False).sum())
            except Exception:
                return None
        return None

    class Over(Exception):
        pass

    class Sink:
        def __init__(self, cap):
            self.size, self.cap = 0, cap
        def write(self, b):
            n = memoryview(b).nbytes
            self.size += n
            if self.size > self.cap:
                raise Over()
            return n

    def checkpoint():
        budget, saved, why, rebind, kept = max_bytes, [], {}, [], {}
        names = sorted(user_names())
        for name in names:  # only what is kept by reference is held: a deleted DataFrame's memory is freed
            v = ns[name]
            kind = by_reference(v)
            if kind:
                why[name], kept[name] = kind, v
                rebind.append(name)
                continue
            n = known_size(v)
            if n is not None and n > budget:
                why[name], kept[name] = f"{size(n)} is over the copy limit", v
                continue
            sink = Sink(budget)
            try:
                pickle.Pickler(sink, protocol=5).dump(v)
            except Over:
                why[name], kept[name] = f"more than {size(budget)} is over the copy limit", v
            except Exception as exc:
                tname = type(v).__name__
                detail = "" if f"'{tname}'" in str(exc) else f" ({str(exc)[:120]})"
                why[name], kept[name] = f"{a(tname)} cannot be copied{detail}", v
            else:
                budget -= sink.size
                saved.append(name)
        try:
            blobs = {None: pickle.dumps({n: ns[n] for n in saved}, protocol=5)}
        except Exception:  # together they fail where each alone did not: copy them one by one
            blobs = {n: pickle.dumps(ns[n], protocol=5) for n in saved}
        entry = {"names": set(names), "kept": kept, "why": why, "rebind": rebind, "blobs": blobs}
        store.checkpoints[key] = entry
        return {"saved": saved, "referenced": why}

    def restore():
        entry = store.checkpoints.get(key)
        if entry is None:
            return {"missing": True}
        removed = sorted(n for n in user_names() if n not in entry["names"])
        for name in removed:
            if name in hidden:
                ns[name] = hidden[name]
            else:
                del ns[name]
        restored, not_restored = [], {}
        for name, why in entry["why"].items():  # classes first: the copies are unpickled against them
            ns[name] = entry["kept"][name]
            if name in entry["rebind"]:
                restored.append(name)
            else:
                not_restored[name] = why
        try:
            copies = {}
            for name, blob in entry["blobs"].items():
                copies.update(pickle.loads(blob) if name is None else {name: pickle.loads(blob)})
        except Exception as exc:  # e.g. its class's module is gone: the name keeps its present value
            for name in entry["names"].difference(entry["why"]):
                not_restored[name] = f"its copy could not be read back ({str(exc)[:120]})"
        else:
            ns.update(copies)
            restored.extend(copies)
        return {"restored": sorted(restored), "removed": removed, "not_restored": not_restored}

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if op == "checkpoint":
            return json.dumps(checkpoint())
        if op == "restore":
            return json.dumps(restore())
        store.checkpoints.pop(key, None)
        return json.dumps({})
"""


class KernelCallError(RuntimeError):
    """The kernel did not answer a NEXUS request (busy past the time limit, dead, or the code failed)."""


class CheckpointNotFound(KernelCallError, LookupError):
    """The kernel holds no checkpoint of that key: it was discarded, or the kernel restarted since."""


@dataclass
class KernelCheckpoint:
    """What a checkpoint copied, and what it could only keep a reference to (name -> why)."""

    key: str
    saved: list[str]
    referenced: dict[str, str]


@dataclass
class RestoreReport:
    """What a restore put back, deleted, and could not put back exactly (name -> why)."""

    restored: list[str]
    removed: list[str]
    not_restored: dict[str, str]


class NotebookKernel:
    """The kernel of one notebook, as the agent uses it: run cells, and checkpoint / restore variables.

    ``call_timeout`` bounds the silent checkpoint requests (a cell still running delays them);
    ``interrupt_grace`` is how long a timed-out cell has to stop after the interrupt.
    """

    def __init__(
        self,
        kernel_manager: Any,
        kernel_id: str,
        *,
        call_timeout: float = 120.0,
        interrupt_grace: float = 10.0,
    ) -> None:
        self.kernel_manager = kernel_manager
        self.kernel_id = kernel_id
        self.call_timeout = call_timeout
        self.interrupt_grace = interrupt_grace

    async def execute(
        self,
        code: str,
        *,
        timeout: float | None = None,
        on_output: Callable[[dict[str, Any]], None] | None = None,
    ) -> Execution:
        """Run ``code`` as a cell would run (history, execution count, ``In``/``Out``).

        ``timeout`` counts from when the cell starts running, not while it waits behind another
        cell: a timeout interrupts the kernel, and must not interrupt someone else's cell.
        ``on_output`` is called with each output as it arrives (stream chunks unmerged), and with
        ``{"output_type": "clear_output"}`` when the outputs are cleared.
        """
        area = OutputArea(on_output)
        async with self._client(outputs=True) as client:
            process = self._process()
            msg_id = client.execute(code, silent=False, store_history=True, allow_stdin=False)
            reply = asyncio.ensure_future(self._reply(client, msg_id, None))
            loop = asyncio.get_running_loop()
            deadline: float | None = None
            started = idle = timed_out = False
            replied_at: float | None = None
            try:
                while not idle:
                    now = loop.time()
                    if reply.done() and replied_at is None:
                        replied_at = now  # the idle status normally follows at once: do not wait long for it
                    if replied_at is not None and now - replied_at > 2.0:
                        break
                    if deadline is not None and now >= deadline:
                        if timed_out:
                            break  # the cell did not stop when interrupted: leave it running
                        timed_out = True
                        try:
                            await self.interrupt()
                        except Exception:
                            log.exception("NEXUS agent: could not interrupt kernel %s", self.kernel_id)
                        deadline = now + self.interrupt_grace
                    wait = 0.5 if deadline is None else min(0.5, max(deadline - now, 0.0))
                    try:
                        msg = await client.get_iopub_msg(timeout=wait)
                    except Empty:
                        if not reply.done() and not await self._alive(process):
                            return Execution("error", area.outputs, None, DIED)
                        continue
                    if msg["parent_header"].get("msg_id") != msg_id:
                        continue
                    if not started:
                        started = True
                        if timeout is not None and deadline is None:
                            deadline = loop.time() + timeout
                    kind, content = msg["msg_type"], msg["content"]
                    if kind == "status":
                        idle = content.get("execution_state") == "idle"
                    else:
                        area.add(kind, content)
                if not reply.done():
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(asyncio.shield(reply), 2.0 if idle else 0.1)
                content = reply.result()["content"] if reply.done() and not reply.exception() else {}
            finally:
                reply.cancel()
        return execution_of(content, area.outputs, timed_out)

    async def interrupt(self) -> None:
        """Interrupt whatever the kernel is running (a cell of the agent's, or of the user's)."""
        result = self.kernel_manager.interrupt_kernel(self.kernel_id)
        if inspect.isawaitable(result):
            await result

    async def checkpoint(self, key: str, *, max_bytes: int = 256 * 1024 * 1024) -> KernelCheckpoint:
        """Copy the user's variables inside the kernel (``max_bytes`` of pickles in all), keyed ``key``."""
        answer = await self._call("checkpoint", key, max_bytes)
        return KernelCheckpoint(key, list(answer["saved"]), dict(answer["referenced"]))

    async def restore(self, key: str) -> RestoreReport:
        """Put the variables back as checkpoint ``key`` saw them; names created since are deleted."""
        answer = await self._call("restore", key, 0)
        if answer.get("missing"):
            raise CheckpointNotFound(f"the kernel has no checkpoint {key!r} (was it restarted?)")
        return RestoreReport(list(answer["restored"]), list(answer["removed"]), dict(answer["not_restored"]))

    async def discard(self, key: str) -> None:
        """Free checkpoint ``key``'s copies; nothing happens if there is none."""
        await self._call("discard", key, 0)

    # -- plumbing ------------------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def _client(self, outputs: bool = False) -> AsyncIterator[Any]:
        """A client of its own; ``outputs``: one that also hears the kernel's output channel.

        A request on the shell channel is queued until the socket connects, so a shell-only client
        is ready at once. Outputs are published to whoever is subscribed when they are sent, so a
        client that reads them first sees the answer to a ``kernel_info`` request there. (Not
        ``wait_for_ready``: it then drains the output channel until it has been quiet for 0.2 s,
        which was most of the cost of running a cell.)"""
        try:
            km = self.kernel_manager.get_kernel(self.kernel_id)
        except KeyError as exc:
            raise KernelCallError(f"there is no kernel {self.kernel_id}") from exc
        # A session of its own, so the notebook's replies are never routed to this client.
        session = Session(key=km.session.key, signature_scheme=km.session.signature_scheme, username="nexus")
        client = km.client(session=session)
        client.start_channels()
        try:
            if outputs:
                await self._hearing(client)
            yield client
        finally:
            client.stop_channels()

    async def _hearing(self, client: Any) -> None:
        """Until the output channel carries the answer to our ``kernel_info`` (asked again every 0.2 s:
        a request sent before the subscription took is answered unheard)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.call_timeout
        while loop.time() < deadline:
            msg_id = client.kernel_info()
            try:
                while True:
                    msg = await client.get_iopub_msg(timeout=0.2)
                    ours = msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "status"
                    if ours and msg["content"].get("execution_state") == "idle":
                        return
            except Empty:
                continue
        raise KernelCallError("the kernel is not answering (timed out)")

    def _process(self) -> Any:
        """The kernel's process object, to notice a restart (the server's restarter reuses the manager)."""
        with contextlib.suppress(KeyError):
            return getattr(
                getattr(self.kernel_manager.get_kernel(self.kernel_id), "provisioner", None), "process", None
            )
        return None

    async def _alive(self, process: Any) -> bool:
        try:
            km = self.kernel_manager.get_kernel(self.kernel_id)
        except KeyError:
            return False
        alive = km.is_alive()
        if inspect.isawaitable(alive):
            alive = await alive
        return bool(alive) and (process is None or self._process() is process)

    async def _reply(self, client: Any, msg_id: str, timeout: float | None) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            wait = 1.0 if deadline is None else deadline - loop.time()
            if wait <= 0:
                raise KernelCallError("the kernel did not answer in time (is a cell still running?)")
            try:
                msg: dict[str, Any] = await client.get_shell_msg(timeout=wait)
            except Empty:
                continue
            if msg.get("parent_header", {}).get("msg_id") == msg_id:
                return msg

    async def _call(self, op: str, key: str, max_bytes: int) -> dict[str, Any]:
        """Run ``op`` of the in-kernel checkpoint code as a silent user expression; its JSON answer."""
        call = f"d['call']({op!r}, {str(key)!r}, {int(max_bytes)!r})"
        expression = f"(lambda d: (exec({_IN_KERNEL!r}, d), {call})[1])({{}})"
        async with self._client() as client:
            for _attempt in range(2):  # a request queued behind a failing cell is aborted: ask again once
                msg_id = client.execute(
                    "",
                    silent=True,
                    store_history=False,
                    user_expressions={"nexus": expression},
                    allow_stdin=False,
                )
                content = (await self._reply(client, msg_id, self.call_timeout))["content"]
                if content.get("status") != "aborted":
                    break
        result = content.get("user_expressions", {}).get("nexus", {})
        if result.get("status") != "ok":
            detail = f"{result.get('ename', content.get('status', 'error'))}: {result.get('evalue', '')}"
            raise KernelCallError(f"the kernel could not {op} ({detail})")
        answer: dict[str, Any] = json.loads(literal_eval(result["data"]["text/plain"]))
        return answer
