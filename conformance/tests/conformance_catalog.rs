//! The catalog's integrity: ids, sections, requirement citations, and that
//! every MUST of docs/protocol.md is covered (or says why it cannot be).

use std::collections::HashSet;

use faxnotify_conformance::{
    Level, Mode, REQUIREMENTS, Section, Selection, all_cases, coverage, select, write_catalog,
    write_coverage,
};

#[test]
fn case_ids_are_unique_and_name_their_mode_and_section() {
    let mut seen = HashSet::new();
    for case in all_cases() {
        assert!(seen.insert(case.id), "duplicate case id {}", case.id);
        let parts: Vec<&str> = case.id.split('/').collect();
        assert_eq!(parts.len(), 3, "{}: ids are mode/section/slug", case.id);
        assert_eq!(parts[0], case.mode().name(), "{}", case.id);
        assert_eq!(parts[1], case.section.slug(), "{}", case.id);
        assert!(
            parts[2]
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "{}: slugs are lowercase words joined by '-'",
            case.id
        );
        assert!(
            !case.title.is_empty() && !case.title.ends_with('.'),
            "{}: title",
            case.id
        );
    }
}

#[test]
fn every_case_cites_known_requirements() {
    let known: HashSet<&str> = REQUIREMENTS.iter().map(|r| r.id).collect();
    for case in all_cases() {
        assert!(
            !case.requirements.is_empty(),
            "{} cites no requirement",
            case.id
        );
        for r in case.requirements {
            assert!(
                known.contains(r),
                "{} cites unknown requirement {r}",
                case.id
            );
        }
    }
}

#[test]
fn the_requirement_list_matches_the_ids_in_the_spec() {
    let spec = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/protocol.md"))
        .unwrap();
    let mut in_spec = HashSet::new();
    for (i, _) in spec.match_indices("**[") {
        let rest = &spec[i + 3..];
        in_spec.insert(rest[..rest.find(']').unwrap()].to_owned());
    }
    for (i, _) in spec.match_indices("### [D-") {
        let rest = &spec[i + 5..];
        in_spec.insert(rest[..rest.find(']').unwrap()].to_owned());
    }
    assert!(
        in_spec.len() > 30,
        "the spec defines its ids as **[X-n]** and ### [D-n]: {in_spec:?}"
    );
    let listed: HashSet<String> = REQUIREMENTS
        .iter()
        .map(|r| r.id.to_owned())
        .filter(|id| !id.starts_with('S'))
        .collect();
    assert_eq!(
        listed, in_spec,
        "REQUIREMENTS and docs/protocol.md disagree"
    );
}

#[test]
fn every_must_is_covered_or_says_why_not() {
    for row in coverage() {
        let r = row.requirement;
        if r.level == Level::Must && !row.covered() {
            assert!(
                r.not_covered.is_some(),
                "MUST {} has no case and no reason",
                r.id
            );
        }
        if row.covered() {
            assert!(
                r.not_covered.is_none(),
                "{} is covered but claims it is not",
                r.id
            );
        }
    }
}

#[test]
fn both_modes_have_cases_in_every_section() {
    for mode in [Mode::Server, Mode::Client] {
        for section in Section::ALL {
            assert!(
                all_cases()
                    .iter()
                    .any(|c| c.mode() == mode && c.section == section),
                "no {mode} case in {section}"
            );
        }
    }
}

#[test]
fn selection_by_id_prefix_and_unknown_patterns() {
    let mut one = Selection::default();
    one.cases = vec!["server/framing/zero-length".into()];
    let picked = select(Mode::Server, &one).unwrap();
    assert_eq!(
        picked.iter().map(|c| c.id).collect::<Vec<_>>(),
        ["server/framing/zero-length"]
    );

    let mut section = Selection::default();
    section.cases = vec!["client/auth".into()];
    let picked = select(Mode::Client, &section).unwrap();
    assert!(picked.len() > 3 && picked.iter().all(|c| c.id.starts_with("client/auth/")));

    let err = select(Mode::Server, &section).unwrap_err();
    assert!(err.to_string().contains("client/auth"), "{err}");
}

#[test]
fn catalog_and_coverage_print() {
    let mut out = Vec::new();
    write_catalog(&mut out, None).unwrap();
    write_coverage(&mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    println!("{text}");
    assert!(text.contains("server/framing/oversized-prelogin [F-1]"));
    assert!(text.contains("not covered: SHOULD"));
    let last = text.lines().last().unwrap();
    assert!(last.ends_with("MUST requirements covered"), "{last}");
}

/// docs/conformance.md shows the catalog and the coverage between markers;
/// they must match what the code generates. Run with
/// `FNP1_UPDATE_DOCS=1 cargo test -p faxnotify-conformance --test conformance_catalog`
/// to rewrite them.
#[test]
fn docs_show_the_current_catalog_and_coverage() {
    use faxnotify_conformance::{write_catalog_markdown, write_coverage_markdown};
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/conformance.md");
    let mut doc = std::fs::read_to_string(path).unwrap();
    let mut catalog = Vec::new();
    write_catalog_markdown(&mut catalog).unwrap();
    let mut cover = Vec::new();
    write_coverage_markdown(&mut cover).unwrap();
    let mut stale = Vec::new();
    for (name, generated) in [("catalog", catalog), ("coverage", cover)] {
        let begin = format!("<!-- BEGIN GENERATED {name} -->\n");
        let end = format!("<!-- END GENERATED {name} -->");
        let start = doc
            .find(&begin)
            .unwrap_or_else(|| panic!("no {begin:?} marker"))
            + begin.len();
        let stop = doc
            .find(&end)
            .unwrap_or_else(|| panic!("no {end:?} marker"));
        let generated = String::from_utf8(generated).unwrap();
        if doc[start..stop] != generated {
            stale.push(name);
            doc.replace_range(start..stop, &generated);
        }
    }
    if std::env::var_os("FNP1_UPDATE_DOCS").is_some() {
        std::fs::write(path, doc).unwrap();
    } else {
        assert!(
            stale.is_empty(),
            "docs/conformance.md is stale ({stale:?}); rerun with FNP1_UPDATE_DOCS=1"
        );
    }
}
