#!/usr/bin/env python3
"""pymesos (PyPI 0.3.15) as a real third-party scheduler against mesos-local.

Usage: scheduler_test.py MASTER EXECUTOR_SCRIPT PYTHONPATH

Subscribes, launches from one offer: a command task that finishes, one that
fails with exit code 2, a long command task, and a task on a CUSTOM executor
written with pymesos (executor_test.py); waits for RUNNING and the terminal
states (pymesos acknowledges every update carrying a uuid, using
status.agent_id), checks the executor's framework message and environment,
reconciles the long task (implicitly: a master update without uuid),
kills it, and tears down. Prints PASS and exits 0 on success.
"""

import getpass
import json
import logging
import os
import sys
import threading

from pymesos import MesosSchedulerDriver, Scheduler, decode_data, encode_data

DEADLINE_SECONDS = 90


def resources(cpus, mem):
    return [
        {"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}},
        {"name": "mem", "type": "SCALAR", "scalar": {"value": mem}},
    ]


class TestScheduler(Scheduler):
    def __init__(self, executor_script, python_path):
        self.executor_script = executor_script
        self.python_path = python_path
        self.framework_id = None
        self.launched = False
        self.states = {}
        self.messages = {}
        self.problems = []
        self.reconciled = False
        self.killed_long = False
        self.done = threading.Event()
        self.lock = threading.Lock()

    def registered(self, driver, framework_id, master_info):
        self.framework_id = framework_id["value"]
        logging.info("registered as %s with master %s", self.framework_id, master_info)

    def resourceOffers(self, driver, offers):
        with self.lock:
            if self.launched:
                for offer in offers:
                    driver.declineOffer(offer["id"], {"refuse_seconds": 3600})
                return
            self.launched = True
        offer, rest = offers[0], offers[1:]
        for other in rest:
            driver.declineOffer(other["id"])
        agent_id = offer["agent_id"]
        executor = {
            "executor_id": {"value": "py-exec"},
            "type": "CUSTOM",
            "name": "pymesos test executor",
            "command": {
                "value": "/usr/bin/python3 %s" % self.executor_script,
                "environment": {"variables": [{"name": "PYTHONPATH", "value": self.python_path}]},
            },
            "resources": resources(0.1, 32),
        }
        tasks = [
            {"name": "cmd-ok", "task_id": {"value": "cmd-ok"}, "agent_id": agent_id,
             "command": {"value": "echo hello"}, "resources": resources(0.1, 32)},
            {"name": "cmd-fail", "task_id": {"value": "cmd-fail"}, "agent_id": agent_id,
             "command": {"value": "exit 2"}, "resources": resources(0.1, 32)},
            {"name": "cmd-long", "task_id": {"value": "cmd-long"}, "agent_id": agent_id,
             "command": {"value": "sleep 1000"}, "resources": resources(0.1, 32)},
            {"name": "py-task", "task_id": {"value": "py-task"}, "agent_id": agent_id,
             "executor": executor, "data": encode_data(b"hello executor"),
             "resources": resources(0.1, 32)},
        ]
        driver.launchTasks(offer["id"], tasks)

    def statusUpdate(self, driver, update):
        task = update["task_id"]["value"]
        state = update["state"]
        logging.info("update %s %s %s", task, state, update.get("message", ""))
        if "uuid" in update and "agent_id" not in update:
            self.problems.append("update without agent_id: %s" % update)
        if update.get("reason") == "REASON_RECONCILIATION":
            if "uuid" in update:
                self.problems.append("reconciliation update with a uuid: %s" % update)
            if task == "cmd-long" and state == "TASK_RUNNING":
                self.reconciled = True
                driver.killTask({"value": "cmd-long"})
            self.check()
            return
        self.states.setdefault(task, []).append(state)
        if task == "cmd-fail" and state == "TASK_FAILED":
            if update.get("message") != "Command exited with status 2":
                self.problems.append("unexpected failure message: %s" % update.get("message"))
        if task == "cmd-long" and state == "TASK_RUNNING" and not self.reconciled:
            driver.reconcileTasks([])
        if task == "cmd-long" and state == "TASK_KILLED":
            self.killed_long = True
        self.check()

    def frameworkMessage(self, driver, executor_id, agent_id, message):
        report = json.loads(decode_data(message).decode("utf-8"))
        self.messages[report["task"]] = report
        env = report["env"]
        if env.get("MESOS_FRAMEWORK_ID") != self.framework_id:
            self.problems.append("executor saw framework %s" % env.get("MESOS_FRAMEWORK_ID"))
        if env.get("MESOS_EXECUTOR_ID") != executor_id["value"]:
            self.problems.append("executor id mismatch: %s vs %s" % (env.get("MESOS_EXECUTOR_ID"), executor_id))
        if report.get("data") != "hello executor":
            self.problems.append("task data not delivered: %s" % report.get("data"))
        self.check()

    def error(self, driver, message):
        self.problems.append("error event: %s" % message)
        self.done.set()

    def check(self):
        final = {task: states[-1] for task, states in self.states.items()}
        expected = {"cmd-ok": "TASK_FINISHED", "cmd-fail": "TASK_FAILED", "py-task": "TASK_FINISHED"}
        if all(final.get(t) == s for t, s in expected.items()) and "py-task" in self.messages \
                and self.reconciled and self.killed_long:
            for task in ("cmd-ok", "py-task"):
                if "TASK_RUNNING" not in self.states[task]:
                    self.problems.append("%s never reported TASK_RUNNING: %s" % (task, self.states[task]))
            self.done.set()


def main():
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    master, executor_script, python_path = sys.argv[1], sys.argv[2], sys.argv[3]
    scheduler = TestScheduler(os.path.abspath(executor_script), python_path)
    framework = {"user": getpass.getuser(), "name": "pymesos-test", "failover_timeout": 60}
    driver = MesosSchedulerDriver(scheduler, framework, master, use_addict=True)
    driver.start()
    finished = scheduler.done.wait(DEADLINE_SECONDS)
    driver.stop()
    driver.join()
    if not finished:
        scheduler.problems.append("timed out; states so far: %s, messages: %s, reconciled: %s"
                                  % (scheduler.states, list(scheduler.messages), scheduler.reconciled))
    if scheduler.problems:
        for problem in scheduler.problems:
            print("FAIL: %s" % problem)
        return 1
    print("PASS: states %s" % scheduler.states)
    return 0


if __name__ == "__main__":
    sys.exit(main())
