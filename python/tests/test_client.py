#!/usr/bin/env python3
"""The Python client against bridge/http's test server: the real service on
a simulated x86-64 target (bridge/service/tests/sim.c).  Answers are checked
against the simulator's layout and against the same command through the
monitor endpoint.  Usage: test_client.py PATH/TO/http_sim_server"""

import os
import sys
import threading
import unittest

# The package from the tree (PYTHONPATH=python), unless test_install.py
# installed it elsewhere and asks for that one (RSPBRIDGE_INSTALLED=DIR).
INSTALLED = os.environ.get("RSPBRIDGE_INSTALLED")
if not INSTALLED:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import rspbridge  # noqa: E402
from rspbridge import Bridge, Error  # noqa: E402

if INSTALLED and not os.path.abspath(rspbridge.__file__).startswith(os.path.abspath(INSTALLED) + os.sep):
    sys.exit(f"rspbridge imported from {rspbridge.__file__}, not from {INSTALLED}")
from simserver import SimServer  # noqa: E402

SERVER = None
KVA, KPA = 0xffff800000000000, 0x200000
UVA, UPA, UPA2 = 0x400000, 0x300000, 0x310000
ROOT2 = 0x2000


class ClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = SimServer(SERVER)
        cls.b = Bridge(cls.srv.url)

    @classmethod
    def tearDownClass(cls):
        cls.b.close()
        rc = cls.srv.stop()
        assert rc == 0, f"server exit status {rc}"

    def test_vtop(self):
        d = self.b.vtop(KVA + 0x1980)
        self.assertTrue(d["mapped"])
        self.assertEqual(Bridge.num(d["pa"]), KPA + 0x1980)
        self.assertEqual(d, __import__("json").loads(self.b.monitor(f"vtop {KVA + 0x1980:#x} --json")))
        self.assertEqual(Bridge.num(self.b.vtop(UVA, root=ROOT2)["pa"]), UPA2)
        with self.assertRaises(Error) as e:
            self.b.vtop(0x7f0000000000)
        self.assertEqual(e.exception.status, 404)
        self.assertIs(e.exception.doc["mapped"], False)

    def test_pte(self):
        d = self.b.pte(KVA + 0x1980)
        self.assertEqual([lv["name"] for lv in d["levels"]], ["PML4E", "PDPTE", "PDE", "PTE"])
        for a, b in zip(d["levels"], d["levels"][1:]):
            self.assertEqual(a["next_pa"], b["table_pa"])

    def test_maps(self):
        d = self.b.maps()
        self.assertEqual(d["runs_count"], len(d["runs"]))
        for run in d["runs"]:
            va = Bridge.num(run["va"])
            # pte, not vtop: a run may map a PA with no RAM behind it.
            t = self.b.pte(va)
            self.assertTrue(t["mapped"])
            self.assertEqual(t["pa"], run["pa"])
            self.assertEqual(list(run), ["va", "size", "pa", "page_size", "level", "flags", "prot"])
            # The last leaf of the run is mapped too: end is va + size.
            last = va + Bridge.num(run["size"]) - Bridge.num(run["page_size"])
            self.assertTrue(self.b.pte(last)["mapped"])
        prot = {Bridge.num(r["va"]): r["prot"] for r in d["runs"]}
        self.assertEqual(prot[UVA], "rwxu")
        self.assertEqual(prot[KVA], "rw-k")
        part = self.b.maps(KVA, KVA + 0x100000)
        self.assertTrue(all(KVA <= Bridge.num(r["va"]) < KVA + 0x100000 for r in part["runs"]))
        self.assertNotIn("count", part["runs"][0])  # cut on a page edge: 0x100 pages
        # Bounds inside pages: 0x1000 bytes over 2 pages, which "count" says.
        cut = self.b.maps(KVA + 0x800, KVA + 0x1800)["runs"]
        self.assertEqual([(r["va"], r["size"], r.get("count")) for r in cut],
                         [(hex(KVA + 0x800), "0x1000", 2)])
        with self.assertRaises(ValueError):
            self.b.maps(lo=1)

    def test_ptov(self):
        d = self.b.ptov(UPA + 4)
        self.assertIn(hex(UVA + 4), str(d))

    def test_memory(self):
        data = bytes(range(256)) * 3
        self.b.write_phys(UPA + 0x100, data)
        self.assertEqual(self.b.read_phys(UPA + 0x100, len(data)), data)
        # The CPU's address space maps UVA to UPA: the same bytes.
        self.assertEqual(self.b.read_virt(UVA + 0x100, len(data)), data)
        self.b.write_virt(UVA + 0x10, b"hello", root=ROOT2)
        self.assertEqual(self.b.read_phys(UPA2 + 0x10, 5), b"hello")
        self.assertEqual(self.b.read_virt(UVA + 0x10, 5, root=ROOT2), b"hello")
        # Longer than one request: split, the pieces agree with small reads.
        big = self.b.read_phys(0x100000, 0x280000)
        self.assertEqual(len(big), 0x280000)
        for off in (0, 0xfffff, 0x100000, 0x1fffff, 0x27fff0):
            self.assertEqual(big[off:off + 16], self.b.read_phys(0x100000 + off, 16))
        small = Bridge(self.srv.url, chunk=0x100)
        self.assertEqual(small.write_phys(UPA + 0x1000, data), len(data))
        self.assertEqual(small.read_phys(UPA + 0x1000, len(data)), data)
        small.close()
        with self.assertRaises(Error) as e:
            self.b.read_virt(0x7f0000000000, 4)
        self.assertEqual(e.exception.status, 404)
        with self.assertRaises(ValueError):
            self.b.read_phys(0, 0)
        with self.assertRaises(Error) as e:
            Bridge(self.srv.url, chunk=2 << 20).read_phys(0, 2 << 20)
        self.assertEqual(e.exception.status, 400)

    def test_regs_target_cache(self):
        r = self.b.regs()
        self.assertEqual(Bridge.num(r["regs"]["cr3"]), 0x1000)
        # The simulator answers no g: every described register, by p.
        self.assertTrue({"rax", "rsp", "rip", "eflags", "cr0", "cr4", "efer"} <= set(r["regs"]), r)
        t = self.b.target()
        self.assertEqual((t["arch"], t["paging"], t["run_state"]), ("i386:x86-64", "x86-64", "stopped"))
        self.assertIn("hits", self.b.cache())

    def test_keepalive(self):
        # One connection for many requests, errors included.
        with Bridge(self.srv.url) as b:
            for i in range(40):
                self.assertEqual(Bridge.num(b.vtop(KVA + 0x1000 + i)["pa"]), KPA + 0x1000 + i)
                with self.assertRaises(Error):
                    b.vtop(0x7f0000000000)
            self.assertEqual(b.connections, 1)

    def test_monitor(self):
        self.assertIn("vtop", self.b.monitor("help"))
        with self.assertRaises(Error) as e:
            self.b.monitor("vtop zz")
        self.assertIn("bad VA", e.exception.doc["output"])

    def test_threads(self):
        # Many clients at once, one Bridge each.
        errors = []

        def worker(i):
            try:
                with Bridge(self.srv.url) as b:
                    for _ in range(10):
                        if Bridge.num(b.vtop(KVA + 0x1000 * i)["pa"]) != KPA + 0x1000 * i:
                            errors.append(i)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(repr(e))

        ts = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        self.assertEqual(errors, [])


class ReadOnlyTest(unittest.TestCase):
    def test_refused(self):
        srv = SimServer(SERVER, "--read-only")
        try:
            with Bridge(srv.url) as b:
                with self.assertRaises(Error) as e:
                    b.write_phys(UPA, b"x")
                self.assertEqual(e.exception.status, 403)
                self.assertTrue(b.target()["read_only"])
                before = b.read_phys(UPA, 1)
                with self.assertRaises(Error) as e:
                    b.monitor(f"phys write {UPA:#x} {before[0] ^ 0xff:02x}")
                self.assertIn("read-only", e.exception.doc["output"])
                self.assertEqual(b.read_phys(UPA, 1), before)
        finally:
            srv.stop()


if __name__ == "__main__":
    SERVER = sys.argv.pop(1)
    unittest.main()
