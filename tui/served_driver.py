"""The driver of a replay served by ``boxtrace serve``: textual's web driver, ending with its server.

textual's web driver reads the server's packets from stdin; at EOF its input thread just stops and
the app runs on, with nobody to talk to. Here EOF (the server closed the pipe, or is gone) quits the
app, and if the app has not ended a few seconds later (its main thread stuck, e.g. in a write to a
pipe nobody reads) the process exits anyway: nothing of a replay needs saving.
"""

from __future__ import annotations

import os
import threading

from textual import messages
from textual.drivers.web_driver import WebDriver

# Seconds between stdin's EOF and the forced exit, if quitting the app did not end the process.
EXIT_GRACE = 5.0


class ServedDriver(WebDriver):
    def run_input_thread(self) -> None:
        super().run_input_thread()
        if self.exit_event.is_set():
            return  # the app is stopping the driver: the usual way out
        self._app.post_message(messages.ExitApp())
        watchdog = threading.Timer(EXIT_GRACE, os._exit, (0,))
        watchdog.daemon = True  # a normal exit does not wait for it
        watchdog.start()
