"""Starts bridge/http's test server (the simulated target) on 127.0.0.1 with
an ephemeral port; stops it, by its own PID, when the tests end."""

import subprocess


class SimServer:
    def __init__(self, binary, *args):
        # stdin is a pipe: the server exits when it closes, so it never
        # outlives this process even if the harness is killed.
        self.proc = subprocess.Popen([binary, *args], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("port "):
            self.stop()
            raise RuntimeError(f"server did not start: {line!r}")
        self.port = int(line.split()[1])
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        return self.proc.returncode
