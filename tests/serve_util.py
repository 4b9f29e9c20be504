"""serve_util.py: what the server tests share: starting `rocmforge serve` on an ephemeral port."""
import re
import subprocess
import threading


def start(binary, model, *args):
    """Starts `binary serve model --port 0 args...`; returns (process, port, ready line, log), the log
    the server's stderr lines after "ready:", collected as they come."""
    srv = subprocess.Popen([binary, "serve", model, "--port", "0", *args], stderr=subprocess.PIPE, text=True)
    port, ready, log = None, "", []
    for line in srv.stderr:  # "listening on http://127.0.0.1:PORT", then "ready: ..."
        m = re.search(r"127\.0\.0\.1:(\d+)", line)
        if m and port is None:
            port = int(m.group(1))
        if "ready:" in line:
            ready = line
            break
    threading.Thread(target=lambda: [log.append(l) for l in srv.stderr], daemon=True).start()
    return srv, port, ready, log
