//! Checks the CRD schema cannot express.
