"""scikit-learn's own common estimator checks, on in-memory input."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from logreg_dist import LogisticRegression


def _expected_failures(estimator):
    return {}


@parametrize_with_checks([LogisticRegression(l2=1e-2)], expected_failed_checks=_expected_failures)
def test_sklearn_common_checks(estimator, check):
    check(estimator)
