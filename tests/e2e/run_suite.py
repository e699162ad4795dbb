"""Runs one end-to-end suite (a test_*.py module) for ctest. A suite in which a test skipped
(a missing tool) exits 77, which ctest shows as Skipped, with the reasons listed: a suite that
checked less than it says never reads as Passed."""
import sys
import unittest

SKIPPED = 77


def main(module):
    suite = unittest.defaultTestLoader.loadTestsFromName(module)
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    if not result.wasSuccessful():
        return 1
    if result.skipped:
        print("\n%s: %d of %d tests skipped, so the suite is reported as skipped:"
              % (module, len(result.skipped), result.testsRun))
        for test, reason in result.skipped:
            print("  %s: %s" % (test.id(), reason))
        return SKIPPED
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
