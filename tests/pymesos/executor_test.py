#!/usr/bin/env python3
"""A CUSTOM executor written with pymesos' MesosExecutorDriver, launched by
the mesos-local agent in the pymesos test: for each task it sends
TASK_RUNNING, a framework message describing its environment and the task
data, then TASK_FINISHED. Kills answer TASK_KILLED."""

import json
import os
import sys
import threading
import time

from pymesos import Executor, MesosExecutorDriver, decode_data, encode_data


class TestExecutor(Executor):
    def registered(self, driver, executor_info, framework_info, agent_info):
        self.framework_id = framework_info["id"]["value"]

    def launchTask(self, driver, task):
        def run():
            driver.sendStatusUpdate({
                "task_id": task["task_id"],
                "state": "TASK_RUNNING",
                "timestamp": time.time(),
            })
            report = {
                "task": task["task_id"]["value"],
                "data": decode_data(task.get("data", "")).decode("utf-8"),
                "env": {k: v for k, v in os.environ.items() if k.startswith("MESOS_")},
                "pgid": os.getpgid(0),
                "sid": os.getsid(0),
            }
            driver.sendFrameworkMessage(encode_data(json.dumps(report).encode("utf-8")))
            driver.sendStatusUpdate({
                "task_id": task["task_id"],
                "state": "TASK_FINISHED",
                "message": "pymesos executor done",
                "timestamp": time.time(),
            })

        threading.Thread(target=run, daemon=True).start()

    def killTask(self, driver, task_id):
        driver.sendStatusUpdate({"task_id": task_id, "state": "TASK_KILLED"})

    def frameworkMessage(self, driver, message):
        driver.sendFrameworkMessage(encode_data(b"echo:" + decode_data(message)))


if __name__ == "__main__":
    MesosExecutorDriver(TestExecutor(), use_addict=True).run()
    sys.exit(0)
