"""Attacks: ``prediction`` (FGSM/BIM/PGD on the predicted class, 001 §4.4; usable by
methods) and ``interpretation`` (Algorithm 1 of 004 on the explanation; runs methods
through the guard), with ``importance`` (R, top-k, centre of mass; 004 §2.1) shared by
the interpretation attacks and the fragility check. Import the submodule you need: this
package imports none of them, so a method importing ``attacks.prediction`` does not reach
the guard."""
