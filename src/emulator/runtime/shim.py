# fgform emulator: the Python side of one function instance (see runtime/worker.rs).
#
# stdin carries one JSON line per message from the emulator: first the setup, then one per
# invocation. Answers go back one JSON line each on a copy of the original stdout; fd 1 itself
# is pointed at stderr, so whatever the handler writes reaches a log and never the protocol.
# Within an invocation, sys.stdout and sys.stderr are captured: they are its function log.
import io
import json
import os
import resource
import signal
import sys
import time
import traceback

PROTO = os.fdopen(os.dup(1), "w", encoding="utf-8")
os.dup2(2, 1)
PARENT = os.getppid()


def answer(message):
    PROTO.write(json.dumps(message, ensure_ascii=False) + "\n")
    PROTO.flush()


def watch_parent(_signum, _frame):
    # The emulator went away (killed, even with -9): so does this instance.
    if os.getppid() != PARENT:
        os._exit(1)


class Capture(io.TextIOBase):
    def __init__(self):
        super().__init__()
        self.parts = []

    def writable(self):
        return True

    def write(self, text):
        self.parts.append(str(text))
        return len(text)

    def take(self):
        text = "".join(self.parts)
        self.parts = []
        return text


LOG = Capture()


class Logger:
    def __init__(self, request_id):
        self.request_id = request_id

    def _log(self, level, *args):
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
        text = " ".join(str(a) for a in args)
        LOG.write("%s %s %s %s\n" % (stamp, self.request_id, level, text))

    def info(self, *args):
        self._log("INFO", *args)

    def warn(self, *args):
        self._log("WARN", *args)

    warning = warn

    def error(self, *args):
        self._log("ERROR", *args)

    def debug(self, *args):
        self._log("DEBUG", *args)


class Context:
    """The documented FunctionGraph context; credentials are local dummies."""

    def __init__(self, setup, request):
        self._setup = setup
        self._request = request
        self._deadline = time.time() + request.get("remaining_ms", 0) / 1000.0
        self._started = time.time()
        self._logger = Logger(request.get("request_id", ""))

    def getRequestID(self):
        return self._request.get("request_id", "")

    def getRemainingTimeInMilliSeconds(self):
        return max(0, int((self._deadline - time.time()) * 1000))

    def getRunningTimeInSeconds(self):
        return int(time.time() - self._started)

    def getUserData(self, key, default=None):
        return self._setup["user_data"].get(key, default)

    def getFunctionName(self):
        return self._setup["function_name"]

    def getVersion(self):
        return self._setup["version"]

    def getAlias(self):
        return self._request.get("alias", "")

    def getMemorySize(self):
        return self._setup["memory_mb"]

    def getCPUNumber(self):
        return self._setup["cpu"]

    def getPackage(self):
        return self._setup["package"]

    def getProjectID(self):
        return self._setup["project_id"]

    def getLogger(self):
        return self._logger

    def getToken(self):
        return self._setup["credentials"]["token"]

    def getAccessKey(self):
        return self._setup["credentials"]["access_key"]

    def getSecretKey(self):
        return self._setup["credentials"]["secret_key"]

    def getSecurityAccessKey(self):
        return self._setup["credentials"]["access_key"]

    def getSecuritySecretKey(self):
        return self._setup["credentials"]["secret_key"]

    def getSecurityToken(self):
        return self._setup["credentials"]["security_token"]


def failure(error, memory=False):
    kind = "MemoryError" if memory else type(error).__name__
    frames = traceback.format_exception(type(error), error, error.__traceback__)
    return {"errorType": kind, "errorMessage": str(error), "stackTrace": [f.rstrip("\n") for f in frames]}


def resolve(spec):
    """`module.function` (the module may be dotted) -> the function."""
    module, _, name = spec.rpartition(".")
    if not module:
        raise ImportError("handler %r is not module.function" % spec)
    mod = __import__(module, fromlist=["_"])
    try:
        return getattr(mod, name)
    except AttributeError:
        raise AttributeError("module %r has no function %r" % (module, name)) from None


def encode(result):
    # A string is the result as it is; anything else is sent as JSON.
    if isinstance(result, str):
        return result
    if isinstance(result, (bytes, bytearray)):
        return bytes(result).decode("utf-8", "replace")
    return json.dumps(result, ensure_ascii=False)


def used_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run(setup, request, function, event):
    sys.stdout = sys.stderr = LOG
    try:
        value = function(event, Context(setup, request))
        out = {"ok": True, "result": encode(value)}
    except MemoryError as e:
        out = {"ok": False, "error": failure(e, memory=True), "oom": True}
    except BaseException as e:  # a handler's SystemExit is its failure, not ours
        out = {"ok": False, "error": failure(e)}
    finally:
        sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
    out["log"] = LOG.take()
    out["memory_mb"] = used_mb()
    return out


def start(setup):
    for path in reversed(setup["paths"]):
        sys.path.insert(0, path)
    limit = setup.get("address_space_bytes")
    if limit:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    sys.stdout = sys.stderr = LOG
    try:
        handler = resolve(setup["handler"])
        if setup.get("initializer"):
            resolve(setup["initializer"])(Context(setup, {"request_id": "init", "remaining_ms": setup["initializer_ms"]}))
        out = {"ok": True}
    except MemoryError as e:
        handler, out = None, {"ok": False, "error": failure(e, memory=True), "oom": True}
    except BaseException as e:
        handler, out = None, {"ok": False, "error": failure(e)}
    finally:
        sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
    out["log"] = LOG.take()
    out["memory_mb"] = used_mb()
    return handler, out


def main():
    signal.signal(signal.SIGALRM, watch_parent)
    signal.setitimer(signal.ITIMER_REAL, 1.0, 1.0)
    setup = json.loads(sys.stdin.readline() or "null")
    if setup is None:
        return
    handler, ready = start(setup)
    answer(ready)
    if handler is None:
        return
    for line in sys.stdin:
        request = json.loads(line)
        answer(run(setup, request, handler, request.get("event")))


main()
