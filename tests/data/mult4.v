// 4x4 unsigned multiplier with registered inputs and product.
module mult4 (input clk, input [3:0] a, input [3:0] b, output reg [7:0] p);
    reg [3:0] ra, rb;
    always @(posedge clk) begin
        ra <= a;
        rb <= b;
        p <= ra * rb;
    end
endmodule
