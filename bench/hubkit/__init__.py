"""The local hub as benchmarks and tests drive it: kubectl and people, manifests, the operator
as a process, participants and their contracts and jobs (`training.Story`), Kueue's queue, and a
fresh hub of a benchmark's own (`benchhub`). The benchmarks import it; the tests import it too;
it imports neither."""
