#!/usr/bin/tcsh
#---------------------------------------------------------------------------
# qflow technology variables for sky130_fd_sc_hd, written for voltscale.
# eda/qflow/tech.py fills {liberty} (the prepared liberty), {lef} and {techlef}
# (the platform's LEFs) and writes the result to the cache; no PDK file is copied.
#
# Status (qflow 1.3.17 / qrouter 1.4.71 / graywolf 0.1.6, Debian 12): synthesis
# hand-off and placement work; qrouter leaves 78-82 of ~835 nets of a MAC unrouted
# (stuck through stage 2 and 3, at initial_density 0.55 and 0.35 alike): the failing
# terminals are li1 pins of the commonest cells (nand2_1/nor2_1/o21ai_0 Y,
# dfxtp_1 D), for which qrouter reports "Port overlaps obstruction". The flow then
# stops at the routing stage with that count; the tested backend uses osu018.
#---------------------------------------------------------------------------

set leffile={lef}
set techleffile={techlef}
set libertyfile={liberty}
set spicefile=""

set flopcell=sky130_fd_sc_hd__dfxtp_1
set floppinout=Q
set floppinin=D
set floppinclk=CLK
set bufcell=sky130_fd_sc_hd__buf_1
set bufpin_in=A
set bufpin_out=X
set clkbufcell=sky130_fd_sc_hd__clkbuf_1
set clkbufpin_in=A
set clkbufpin_out=X
set inverter=sky130_fd_sc_hd__inv_1
set invertpin_in=A
set invertpin_out=Y
set norgate=sky130_fd_sc_hd__nor2_1
set norpin_in1=A
set norpin_in2=B
set norpin_out=Y
set nandgate=sky130_fd_sc_hd__nand2_1
set nandpin_in1=A
set nandpin_in2=B
set nandpin_out=Y
set fillcell=sky130_fd_sc_hd__fill_
set decapcell=sky130_fd_sc_hd__decap_
set antennacell=sky130_fd_sc_hd__diode_2
set antennapin_in=DIODE
set tiehi=sky130_fd_sc_hd__conb_1
set tiehipin_out=HI
set tielo=sky130_fd_sc_hd__conb_1
set tielopin_out=LO
set gndnet=VGND
set vddnet=VPWR
set separator=""
set techfile=""
set magicrc=sky130hd.magicrc
set gdsfile=""

# GrayWolf packs cells to ~98% without padding; qrouter needs room.
set initial_density=0.55
# met5 is for power (open_pdks' qflow setup does the same).
set route_layers=5
set via_stacks=2
