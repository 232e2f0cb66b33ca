"""Unit tests of the suite's pure parts: medians, spreads, merging repetitions, selection.

Run: python3 -m unittest discover -s scripts/gpusuite/tests -t scripts
"""

import unittest

from gpusuite import registry, stats


class MedianSpreadTest(unittest.TestCase):
    def test_odd_count(self):
        ms = stats.median_spread([3, 1, 2])
        self.assertEqual(ms["median"], 2)
        self.assertEqual((ms["min"], ms["max"], ms["spread"]), (1, 3, 2))
        self.assertEqual(ms["spread_pct"], 100.0)
        self.assertEqual(ms["n"], 3)

    def test_even_count_takes_the_middle_mean(self):
        self.assertEqual(stats.median_spread([10, 40, 20, 30])["median"], 25)

    def test_non_numbers_and_bools_are_ignored(self):
        ms = stats.median_spread([None, "x", True, 4.0, 6.0])
        self.assertEqual((ms["median"], ms["n"]), (5.0, 2))

    def test_nothing_numeric(self):
        self.assertIsNone(stats.median_spread([]))
        self.assertIsNone(stats.median_spread([None, False]))

    def test_zero_median_has_no_percentage(self):
        self.assertIsNone(stats.median_spread([-1, 0, 1])["spread_pct"])


class MajorityTest(unittest.TestCase):
    def test_majority(self):
        self.assertTrue(stats.majority_pass([True, True, False]))
        self.assertFalse(stats.majority_pass([True, False, False]))
        self.assertFalse(stats.majority_pass([True, False]))  # a tie is not a pass

    def test_none_is_not_counted(self):
        self.assertIsNone(stats.majority_pass([None, None]))
        self.assertTrue(stats.majority_pass([None, True]))


class MergeRepsTest(unittest.TestCase):
    def entry(self, name, value, passed, rep, part="compute"):
        return {"part": part, "name": name, "pass": passed, "value": value, "target": 50,
                "unit": "%", "rep": rep}

    def test_single_entries_pass_through_without_rep(self):
        merged = stats.merge_reps([self.entry("a", 1, True, 0)])
        self.assertEqual(merged, [{"part": "compute", "name": "a", "pass": True, "value": 1,
                                   "target": 50, "unit": "%"}])

    def test_repetitions_merge_to_median_majority_and_spread(self):
        entries = [self.entry("share", v, p, r) for r, (v, p) in
                   enumerate([(49.0, True), (53.5, False), (50.5, True)])]
        entries.insert(1, self.entry("other", 7, None, 0, part="memory"))
        merged = stats.merge_reps(entries)
        self.assertEqual([m["name"] for m in merged], ["share", "other"])
        share = merged[0]
        self.assertEqual(share["value"], 50.5)
        self.assertTrue(share["pass"])
        self.assertEqual(share["reps"]["values"], [49.0, 53.5, 50.5])
        self.assertEqual(share["reps"]["passes"], [True, False, True])
        self.assertEqual(share["reps"]["spread"], 4.5)
        self.assertNotIn("rep", share)

    def test_integers_stay_integers(self):
        merged = stats.merge_reps([self.entry("rc", 2, True, r) for r in range(3)])
        self.assertIs(type(merged[0]["value"]), int)
        self.assertEqual(merged[0]["reps"]["spread"], 0)

    def test_non_numeric_values_take_the_most_common(self):
        merged = stats.merge_reps([self.entry("uuid", v, True, r)
                                   for r, v in enumerate(["GPU-a", "GPU-b", "GPU-a"])])
        self.assertEqual(merged[0]["value"], "GPU-a")
        self.assertNotIn("spread", merged[0]["reps"])

    def test_a_failed_run_among_numbers(self):
        merged = stats.merge_reps([self.entry("s", v, p, r) for r, (v, p) in
                                   enumerate([(50.0, True), (None, False), (51.0, True)])])
        self.assertEqual(merged[0]["value"], 50.5)
        self.assertTrue(merged[0]["pass"])


class SelectionTest(unittest.TestCase):
    def test_empty_selects_every_area(self):
        self.assertEqual(registry.parse_only(""), {a: None for a in registry.AREAS})

    def test_keys_and_whole_areas(self):
        self.assertEqual(registry.parse_only("memory,compute:caps+pairs,compute:tiny"),
                         {"memory": None, "compute": {"caps", "pairs", "tiny"}})
        self.assertEqual(registry.parse_only("compute,compute:caps"), {"compute": None})

    def test_unknown_area(self):
        with self.assertRaises(registry.SelectionError):
            registry.parse_only("memory,gpu")

    def test_select_adds_requirements_in_run_order(self):
        areas = registry.load_areas()
        steps = registry.select(areas, registry.parse_only("compute:caps,memory:startup"))
        self.assertEqual([(a.name, s.key, s.phase) for a, s in steps],
                         [("memory", "startup", "baseline"), ("compute", "alone", "baseline"),
                          ("memory", "startup", "cap"), ("compute", "caps", "cap")])

    def test_select_unknown_key(self):
        with self.assertRaises(registry.SelectionError):
            registry.select(registry.load_areas(), {"compute": {"nope"}})

    def test_every_area_is_registered_consistently(self):
        areas = registry.load_areas()
        self.assertEqual(list(areas), registry.AREAS)
        for spec in areas.values():
            for s in spec.steps:
                self.assertTrue(callable(getattr(spec.cls, s.method)), f"{spec.name}:{s.key}")
                for r in s.requires:
                    self.assertIn(r, spec.keys())


if __name__ == "__main__":
    unittest.main()
