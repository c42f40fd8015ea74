"""Which search seeds of the default job (benchmarks/default_job.sh) played which part in the design of the 20%
judgement: the roles `default_job_figures.py` writes beside each seed in the twin table."""

# Which seeds' twins were looked at while the 20% judgement was designed (issue 10 item 5): seed 0 shaped it,
# seeds 1 and 2 were seen in round 5; 3-5 were fixed before round 6's design was measured on them, and were
# design data of round 7 (replayed); 6-8 were fixed before round 7's design and run once, unread by it; 9-11 were
# fixed before round 8 and run once with the round-7 predictor frozen (the finals on 48 products), unread by any design;
# 12-14 were run once in round 13 (the 20% judgement as rounds 8-12 left it), unread by any design; 18-20 were
# fixed before round 29's twins and run once with its predictor, unread by its design (the replay of design ids);
# 21-23 were fixed before round 30's twins and run once with its candidate (a straight line above the finished runs'
# losses), reverted after them: their live column is the candidate's, the replayed column the shipped predictor's;
# 24-29 were fixed before round 31's twins (10 trials, chosen on the replay of the job set) and run once.
# 54-59 were fixed before round 35's twins and run once with its predictor, whose choice read the twins 18-53.
# 60-65 were fixed before round 36's twins and run once with its predictions held in order (chosen on twins 18-53).
# 66-71 were fixed before round 37's twins and run once with round 36's predictor (round 37 changed only which names
# read as a held-out loss; the job's `eval_loss` reads as before), unread by any design; 72-77 likewise with round
# 37's predictor (round 38: more loss names, copies read once); 78-80 were fixed before round 39's twins and run once
# with its copies in other units (the job reports none) and the Gaussian process's two starts, before round 39 gave
# it a third (their replayed column is the final predictor's); 81-83 were fixed then and run once with the final one.
# 84-86 were fixed before round 40's twins and run once with its kernel ridge, which drops a column the same in every
# run (chosen for what it fixes, on no twin). 87-89 were fixed before round 41's twins and run once with round 40's
# final tree, 90-92 then with round 41's (a metric's range, which leaves the job's [0, 1] accuracy as it was); 93-95
# were fixed before round 42's first step and run once with round 41's final tree (e654243); 96-98 before round 43's
# first step, run once with round 42's final tree (ac6d74c); 99-101 fixed in round 44 when its twins started (the next
# three unused seeds), run once with 1531d07 (round 43's verdict; round 44 changed no predictor); 102-104 fixed in
# round 45 before its first product change, run once with aac4384 (round 44's final tree; round 45 changed only
# the ranking with 0-1 finished runs, which predicts no final); 105-107 fixed then too, run once at the end of round
# 45 with its final tree (3923dc1); 108-113 fixed in round 46, run once with its predictor change (c997b2e), 111-113
# after its first results; 114-119 fixed in round 47, run once with its two changes (adc6383), 117-119 after 114-116;
# 120-122 and 123-125 each fixed in round 48 when their twins started (the next unused seeds), run once with round
# 47's final tree (92da34c; round 48 changed no code the job runs), 123-125 after 120-122. 126-128 fixed in round 49
# when its twins started, run once with its first commit (b515a5b: each final re-scored on resampled validation items
# for the report; the predictor as round 48 left it), 129-131 after them with a9930e4 (report lines and a plot only).
# 132-137 fixed in round 50 when its twins started, run once with 147473a (answers generated 48 rows per call:
# the same answers on the seed it was timed on; every objective's final resampled). 138-140 fixed in round 51 when
# its twins started, run once with a2cfb92 (round 51 changed nothing the job runs); 141-143 after them with c2b64d2.
# 144-149 fixed in round 52 when its twins started, run once with f32726b (bf16 on a CPU that computes it natively);
# 150-155 fixed after them, when their twins started, run once with 016754e (nothing the twin runs changed).
# 156-161 fixed in round 53 when its twins started, run once with 56ca938 (round 53 changed nothing the job runs);
# 162-167 fixed after them, when their twins started, run once with f9d1add.
# 168-173 fixed in round 54 when its twins started, after its CI run, run once with 05eba0a (nothing the twin runs
# changed: a config field's description, a test, a replay option). 174-179 fixed in round 55 when its twins started,
# run once with 2945ff4 (the eval loss's line kept from 4 finished runs). 180-188 fixed in round 56 when its twins
# started, run once with 250eaf4 (finals on 72 validation products, was 48: another split, so other runs than 48's).
# 189-197 fixed at round 57's first step, run once with 90edc48 (round 56's final tree; round 57 changed nothing the
# job runs), 189-191 also as shipped (pruning on), each just before its twin.
# 198-203 fixed in round 58 when its twins started (198-200 after its LoRA curve set was recorded, 201-203 after its
# first CI run), run once with fed1b11 / 865cd0a (nothing the job runs changed since round 56), as twins only.
# 204-209 fixed in round 59 when its twins started (after its replays, before its CI run), run once with ea2ac5d (a run
# the finished runs cannot place ranked by its held-out loss, no final), as twins only.
SEED_ROLES = {
    0: "design",
    1: "seen",
    2: "seen",
    3: "r6 fresh, r7 design",
    4: "r6 fresh, r7 design",
    5: "r6 fresh, r7 design",
    9: "r8 fresh, finals on 48",
    10: "r8 fresh, finals on 48",
    11: "r8 fresh, finals on 48",
    12: "r13 fresh, finals on 48",
    13: "r13 fresh, finals on 48",
    14: "r13 fresh, finals on 48",
    18: "r29 fresh, finals on 48",
    19: "r29 fresh, finals on 48",
    20: "r29 fresh, finals on 48",
    21: "r30 fresh, finals on 48; live: a reverted candidate",
    22: "r30 fresh, finals on 48; live: a reverted candidate",
    23: "r30 fresh, finals on 48; live: a reverted candidate",
    24: "r31 fresh, 10 trials",
    25: "r31 fresh, 10 trials",
    26: "r31 fresh, 10 trials",
    27: "r31 fresh, 10 trials",
    28: "r31 fresh, 10 trials",
    29: "r31 fresh, 10 trials",
    30: "r32 fresh, 2-run band floor",
    31: "r32 fresh, 2-run band floor",
    32: "r32 fresh, 2-run band floor",
    33: "r32 fresh, 2-run band floor",
    34: "r32 fresh, 2-run band floor",
    35: "r32 fresh, band floors (2 and 3+ runs)",
    36: "r32 fresh, band floors and the tail",
    37: "r32 fresh, band floors and the tail",
    38: "r32 fresh, band floors and the tail",
    **{seed: "r33 fresh, round 32's final predictor" for seed in range(39, 48)},
    **{seed: "r34 fresh, round 32's final predictor" for seed in range(48, 54)},
    **{seed: "r35 fresh, round 35's predictor" for seed in range(54, 60)},
    **{seed: "r36 fresh, held in order" for seed in range(60, 66)},
    **{seed: "r37 fresh, round 36's predictor" for seed in range(66, 72)},
    **{seed: "r38 fresh, round 37's predictor" for seed in range(72, 78)},
    **{seed: "r39 fresh, round 39's copies, two-start GP" for seed in range(78, 81)},
    **{seed: "r39 fresh, round 39's final predictor" for seed in range(81, 84)},
    **{seed: "r40 fresh, round 40's kernel ridge" for seed in range(84, 87)},
    **{seed: "r41 fresh, round 40's final tree" for seed in range(87, 90)},
    **{seed: "r41 fresh, round 41's tree" for seed in range(90, 93)},
    **{seed: "r42 fresh, round 41's final tree" for seed in range(93, 96)},
    **{seed: "r43 fresh, round 42's final tree" for seed in range(96, 99)},
    **{seed: "r44 fresh, round 43's verdict" for seed in range(99, 102)},
    **{seed: "r45 fresh, round 44's final tree" for seed in range(102, 105)},
    **{seed: "r45 fresh, round 45's final tree" for seed in range(105, 108)},
    **{seed: "r46 fresh, round 46's tree" for seed in range(108, 114)},
    **{seed: "r47 fresh, round 47's tree" for seed in range(114, 120)},
    **{seed: "r48 fresh, round 47's final tree" for seed in range(120, 126)},
    **{seed: "r49 fresh, finals resampled" for seed in range(126, 132)},
    **{seed: "r50 fresh, 48 rows per generate call" for seed in range(132, 138)},
    **{seed: "r51 fresh, round 50's job" for seed in range(138, 144)},
    **{seed: "r52 fresh, bf16 on this CPU" for seed in range(144, 156)},
    **{seed: "r53 fresh, round 52's job" for seed in range(156, 168)},
    **{seed: "r54 fresh, round 52's job" for seed in range(168, 174)},
    **{seed: "r55 fresh, eval loss kept from 4 runs" for seed in range(174, 180)},
    **{seed: "r56 fresh, finals on 72 products" for seed in range(180, 189)},
    **{seed: "r57 fresh, round 56's job" for seed in range(189, 198)},
    **{seed: "r58 fresh, round 56's job" for seed in range(198, 204)},
    **{seed: "r59 fresh, round 59's verdict" for seed in range(204, 210)},
}
