"""The tests behind rate comparisons, against hand-computed figures.

Two proportions, canary 30/1000 vs stable 100/10000:
  pooled p = 130/11000 = 0.0118182; SE = sqrt(p(1-p)(1/1000 + 1/10000)) = 0.0035842;
  z = 0.02 / 0.0035842 = 5.5801; one-sided p = 1.2e-8.
With a 0.5 pp margin (unpooled SE = sqrt(.03*.97/1000 + .01*.99/10000) = 0.0054854):
  z = 0.015 / 0.0054854 = 2.7345; p = 0.00312.
One proportion, 15/1000 against 1 %: SE = sqrt(.01*.99/1000) = 0.0031464; z = 1.5891; p = 0.0560.
Poisson rates, 300/1000 vs 2000/10000: pooled 2300/11000 = 0.20909; SE = 0.015166; z = 6.5938.
"""

from __future__ import annotations

import math

import pytest

from monitoring import analysis


def test_two_proportion_z_with_pooled_standard_error():
    assert analysis.two_proportion_z(30, 1000, 100, 10000) == pytest.approx(5.5801, abs=1e-4)
    assert analysis.upper_p_value(5.5801) == pytest.approx(1.2e-8, rel=0.01)


def test_two_proportion_z_with_a_margin_uses_the_unpooled_error():
    z = analysis.two_proportion_z(30, 1000, 100, 10000, margin=0.005)
    assert z == pytest.approx(2.7345, abs=1e-4)
    assert analysis.upper_p_value(z) == pytest.approx(0.003124, abs=1e-5)


def test_one_proportion_z_against_an_absolute_threshold():
    z = analysis.one_proportion_z(15, 1000, 0.01)
    assert z == pytest.approx(1.5891, abs=1e-4)
    assert analysis.upper_p_value(z) == pytest.approx(0.0560, abs=1e-4)


def test_poisson_rate_z_with_pooled_rate():
    assert analysis.two_rate_z(300, 1000, 2000, 10000) == pytest.approx(6.5938, abs=1e-4)


def test_p_values_match_the_normal_table():
    assert analysis.upper_p_value(1.959964) == pytest.approx(0.025, abs=1e-6)
    assert analysis.upper_p_value(0) == 0.5


def test_identical_zero_rates_are_no_evidence_of_a_breach():
    z = analysis.two_proportion_z(0, 500, 0, 5000)
    assert z == 0.0
    assert analysis.upper_p_value(z) == 0.5


def test_a_certain_difference_with_no_variance_is_infinitely_significant():
    z = analysis.two_proportion_z(10, 10, 0, 10, margin=0.01)
    assert z == math.inf
    assert analysis.upper_p_value(z) == 0.0
