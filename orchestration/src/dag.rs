//! The job graph, derived from each job's declared inputs and output — never hand-written.
//! A job depends on the job whose output is one of its inputs; tables no job writes (Bronze)
//! are sources.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use strata_pipelines::{JobSpec, TableName};

use crate::{Error, Result};

#[derive(Debug, Clone)]
pub struct Dag {
    specs: Vec<JobSpec>,
    upstream: Vec<Vec<usize>>,
    downstream: Vec<Vec<usize>>,
    order: Vec<usize>,
}

impl Dag {
    /// Refuses two jobs writing one table and cycles, naming them.
    pub fn new(specs: Vec<JobSpec>) -> Result<Self> {
        let mut writer: BTreeMap<&TableName, usize> = BTreeMap::new();
        for (i, s) in specs.iter().enumerate() {
            if let Some(j) = writer.insert(&s.output, i) {
                return Err(Error::Dag(format!(
                    "jobs {} and {} both write {}",
                    specs[j].name, s.name, s.output
                )));
            }
        }
        let mut upstream = vec![Vec::new(); specs.len()];
        let mut downstream = vec![Vec::new(); specs.len()];
        for (i, s) in specs.iter().enumerate() {
            for input in s.inputs.iter().chain(&s.after) {
                if let Some(&j) = writer.get(input)
                    && !upstream[i].contains(&j)
                {
                    upstream[i].push(j);
                    downstream[j].push(i);
                }
            }
        }
        // Kahn's algorithm, taking ready jobs in declaration order for a stable order.
        let mut indegree: Vec<usize> = upstream.iter().map(Vec::len).collect();
        let mut ready: BTreeSet<usize> = (0..specs.len()).filter(|&i| indegree[i] == 0).collect();
        let mut order = Vec::with_capacity(specs.len());
        while let Some(i) = ready.pop_first() {
            order.push(i);
            for &d in &downstream[i] {
                indegree[d] -= 1;
                if indegree[d] == 0 {
                    ready.insert(d);
                }
            }
        }
        if order.len() != specs.len() {
            let stuck: Vec<&str> = (0..specs.len())
                .filter(|i| !order.contains(i))
                .map(|i| specs[i].name.as_str())
                .collect();
            return Err(Error::Dag(format!("cycle among {}", stuck.join(", "))));
        }
        Ok(Self {
            specs,
            upstream,
            downstream,
            order,
        })
    }

    pub fn len(&self) -> usize {
        self.specs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }

    pub fn spec(&self, i: usize) -> &JobSpec {
        &self.specs[i]
    }

    /// Job indices, each after every job it depends on.
    pub fn order(&self) -> &[usize] {
        &self.order
    }

    pub fn upstream(&self, i: usize) -> &[usize] {
        &self.upstream[i]
    }

    pub fn index(&self, job: &str) -> Option<usize> {
        self.specs.iter().position(|s| s.name == job)
    }

    /// `i` and every job downstream of it, in DAG order.
    pub fn with_downstream(&self, i: usize) -> Vec<usize> {
        let mut reach = BTreeSet::from([i]);
        let mut stack = vec![i];
        while let Some(j) = stack.pop() {
            for &d in &self.downstream[j] {
                if reach.insert(d) {
                    stack.push(d);
                }
            }
        }
        self.order
            .iter()
            .copied()
            .filter(|j| reach.contains(j))
            .collect()
    }

    /// Tables read by some job and written by none (the sources, i.e. Bronze).
    pub fn sources(&self) -> Vec<TableName> {
        let outputs: BTreeSet<&TableName> = self.specs.iter().map(|s| &s.output).collect();
        let inputs: BTreeSet<&TableName> = self.specs.iter().flat_map(|s| &s.inputs).collect();
        inputs
            .into_iter()
            .filter(|t| !outputs.contains(t))
            .cloned()
            .collect()
    }

    fn edges(&self) -> Vec<(&TableName, &TableName)> {
        self.order
            .iter()
            .flat_map(|&i| {
                let s = &self.specs[i];
                s.inputs.iter().map(move |input| (input, &s.output))
            })
            .collect()
    }

    /// One line per job, in run order: `job: input, input -> output`.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for t in self.sources() {
            let _ = writeln!(out, "{t} (source)");
        }
        for &i in &self.order {
            let s = &self.specs[i];
            let inputs: Vec<String> = s.inputs.iter().map(ToString::to_string).collect();
            let _ = writeln!(out, "{} <- {}", s.output, inputs.join(", "));
        }
        out
    }

    /// A Mermaid flowchart (renders on GitHub and in the dashboard).
    pub fn mermaid(&self) -> String {
        let id = |t: &TableName| format!("{}_{}", t.layer, t.table);
        let mut out = String::from("flowchart LR\n");
        let mut nodes: BTreeSet<&TableName> = BTreeSet::new();
        for (a, b) in self.edges() {
            nodes.insert(a);
            nodes.insert(b);
        }
        for t in nodes {
            let _ = writeln!(out, "  {}[(\"{}\")]", id(t), t);
        }
        for (a, b) in self.edges() {
            let _ = writeln!(out, "  {} --> {}", id(a), id(b));
        }
        out
    }

    /// Graphviz DOT.
    pub fn dot(&self) -> String {
        let mut out = String::from(
            "digraph strata {\n  rankdir=LR;\n  node [shape=cylinder, fontname=\"Helvetica\"];\n",
        );
        for (a, b) in self.edges() {
            let _ = writeln!(out, "  \"{a}\" -> \"{b}\";");
        }
        out.push_str("}\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, inputs: &[&str]) -> JobSpec {
        let mut b = JobSpec::builder(name);
        for i in inputs {
            b = b.input(i.parse().unwrap());
        }
        b.build().unwrap()
    }

    #[test]
    fn order_follows_inputs_and_downstream_is_transitive() {
        let dag = Dag::new(vec![
            spec("gold.g", &["silver.a", "silver.b"]),
            spec("silver.a", &["bronze.events"]),
            spec("silver.b", &["bronze.events"]),
            spec("gold.h", &["gold.g"]),
        ])
        .unwrap();
        let names: Vec<&str> = dag
            .order()
            .iter()
            .map(|&i| dag.spec(i).name.as_str())
            .collect();
        assert_eq!(names, ["silver.a", "silver.b", "gold.g", "gold.h"]);
        let a = dag.index("silver.a").unwrap();
        let down: Vec<&str> = dag
            .with_downstream(a)
            .iter()
            .map(|&i| dag.spec(i).name.as_str())
            .collect();
        assert_eq!(down, ["silver.a", "gold.g", "gold.h"]);
        assert_eq!(dag.sources(), vec!["bronze.events".parse().unwrap()]);
        assert!(dag.mermaid().contains("silver_a --> gold_g"));
        assert!(dag.dot().contains("\"gold.g\" -> \"gold.h\";"));
        assert!(dag.text().contains("gold.g <- silver.a, silver.b"));
    }

    #[test]
    fn cycles_and_two_writers_are_refused_by_name() {
        let e = Dag::new(vec![
            spec("silver.a", &["silver.b"]),
            spec("silver.b", &["silver.a"]),
        ])
        .unwrap_err()
        .to_string();
        assert!(e.contains("cycle among silver.a, silver.b"), "{e}");
        let e = Dag::new(vec![
            JobSpec::builder("x")
                .output("silver.a".parse().unwrap())
                .build()
                .unwrap(),
            spec("silver.a", &[]),
        ])
        .unwrap_err()
        .to_string();
        assert!(e.contains("both write silver.a"), "{e}");
    }

    /// A job whose expectations read another table (references) runs after that table's job,
    /// though it does not consume it: the platform's feedback job follows invocations.
    #[test]
    fn tables_read_by_expectations_order_the_dag() {
        let feedback = JobSpec::builder("silver.feedback")
            .input("bronze.events".parse().unwrap())
            .after("silver.invocations".parse().unwrap())
            .build()
            .unwrap();
        let dag = Dag::new(vec![
            feedback,
            spec("silver.invocations", &["bronze.events"]),
        ])
        .unwrap();
        let names: Vec<&str> = dag
            .order()
            .iter()
            .map(|&i| dag.spec(i).name.as_str())
            .collect();
        assert_eq!(names, ["silver.invocations", "silver.feedback"]);
        assert!(!dag.text().contains("silver.feedback <- silver.invocations"));
        let platform = Dag::new(
            crate::platform_jobs(&strata_project::builtin().unwrap())
                .iter()
                .map(|j| j.spec())
                .collect(),
        )
        .unwrap();
        let (inv, fb) = (
            platform.index("silver.agent_invocations").unwrap(),
            platform.index("silver.agent_feedback").unwrap(),
        );
        assert!(platform.upstream(fb).contains(&inv));
    }
}
