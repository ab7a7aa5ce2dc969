#!/usr/bin/env python3
"""Writes realistic Canvas SIS CSVs (users, courses, sections, enrollments) totalling about SIZE.

Usage: gen_sis.py OUT_DIR SIZE     (SIZE like 100M, 1G, 250000000)

Proportions follow a mid-size institution's full feed: enrollments dominate, then users, then
sections and courses. Values are deterministic (fixed seed) so benchmark runs are comparable.
"""
import os
import random
import sys

FIRST = ("James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara "
         "Richard Susan Joseph Jessica Thomas Sarah Charles Karen Maria Wei Fatima Olga Juan "
         "Aisha Hiroshi Priya Mohammed Sofia Liam Noah Emma Olivia Ava Lucas Mateo Chloe").split()
LAST = ("Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez "
        "Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White "
        "Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Nguyen "
        "Kim Patel Chen O'Brien Muller Rossi Kowalski Novak Silva").split()
SUBJECTS = ("BIO CHEM PHYS MATH ENGL HIST PSYC ECON CS ART MUS PHIL SOC POLS SPAN FREN STAT "
            "NURS EDUC ACCT").split()
TITLES = ("Introduction to {s}", "Principles of {s}", "Advanced {s} Seminar", "Topics in {s}",
          "{s} Laboratory", "Research Methods in {s}", "History of {s}")
TERMS = ["2025FA", "2026SP", "2026SU"]
ROLES = ["student"] * 18 + ["teacher", "ta"]


def parse_size(text):
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(float(text[:-1]) * mult[text[-1].upper()]) if text[-1].upper() in mult else int(text)


def write_until(path, header, make_row, budget, rng):
    """Writes rows from make_row(i, rng) until the file reaches budget bytes; returns row count."""
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(header)
        written, i, buf = len(header), 0, []
        while written < budget:
            row = make_row(i, rng)
            buf.append(row)
            written += len(row)
            i += 1
            if len(buf) >= 5000:
                f.write("".join(buf))
                buf.clear()
        f.write("".join(buf))
    return i


def user_row(i, rng):
    first, last = rng.choice(FIRST), rng.choice(LAST)
    sid = f"S{1000000 + i:07d}"
    login = f"{first[0].lower()}{last.lower().replace(chr(39), '')}{i % 997}"
    kind = "students" if i % 12 else "faculty"
    status = "active" if rng.random() > 0.03 else "suspended"
    return (f"{sid},INT{i:08d},{login},{first},{last},{first} {last},\"{last}, {first}\","
            f"{first},{login}@{kind}.example.edu,{status}\n")


def course_row(i, rng):
    subj = rng.choice(SUBJECTS)
    num = 100 + (i * 37) % 400
    term = TERMS[i % len(TERMS)]
    title = rng.choice(TITLES).format(s=subj.title())
    return (f"{term}-{subj}{num}-{i:06d},{subj} {num},{title} ({term}),ACCT-{subj},{term},active,"
            f"2025-08-{20 + i % 8:02d}T08:00:00Z,2025-12-{10 + i % 9:02d}T23:59:00Z\n")


def section_row(i, rng):
    term = TERMS[i % len(TERMS)]
    subj = SUBJECTS[i % len(SUBJECTS)]
    course = f"{term}-{subj}{100 + (i // 3 * 37) % 400}-{i // 3:06d}"
    return (f"{course}-S{i % 3 + 1:02d},{course},Section {i % 3 + 1:02d} - {subj},active,"
            f"2025-08-25T08:00:00Z,2025-12-19T23:59:00Z\n")


def make_enrollment_row(n_users, n_sections):
    def row(i, rng):
        u = rng.randrange(n_users)
        s = rng.randrange(n_sections)
        term = TERMS[s % len(TERMS)]
        subj = SUBJECTS[s % len(SUBJECTS)]
        course = f"{term}-{subj}{100 + (s // 3 * 37) % 400}-{s // 3:06d}"
        status = "active" if rng.random() > 0.05 else rng.choice(["deleted", "completed", "inactive"])
        return f"{course},S{1000000 + u:07d},{rng.choice(ROLES)},{course}-S{s % 3 + 1:02d},{status},\n"
    return row


def main():
    out, total = sys.argv[1], parse_size(sys.argv[2])
    os.makedirs(out, exist_ok=True)
    rng = random.Random(20260101)
    n_users = write_until(os.path.join(out, "users.csv"),
                          "user_id,integration_id,login_id,first_name,last_name,full_name,"
                          "sortable_name,short_name,email,status\n", user_row, total * 30 // 100, rng)
    write_until(os.path.join(out, "courses.csv"),
                "course_id,short_name,long_name,account_id,term_id,status,start_date,end_date\n",
                course_row, total * 5 // 100, rng)
    n_sections = write_until(os.path.join(out, "sections.csv"),
                             "section_id,course_id,name,status,start_date,end_date\n",
                             section_row, total * 5 // 100, rng)
    write_until(os.path.join(out, "enrollments.csv"),
                "course_id,user_id,role,section_id,status,associated_user_id\n",
                make_enrollment_row(n_users, n_sections), total * 60 // 100, rng)


if __name__ == "__main__":
    main()
