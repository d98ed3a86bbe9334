# frozen_string_literal: true

RSpec.describe HelloApp do
  let(:request) { Rack::MockRequest.new(described_class.new) }

  it "greets the world" do
    response = request.get("/")
    expect(response.status).to eq(200)
    expect(response.body).to include("Hello, world!")
  end

  it "greets by name" do
    expect(request.get("/?name=Ruby").body).to include("Hello, Ruby!")
  end

  it "runs in the test environment" do
    expect(ENV.fetch("RACK_ENV")).to eq("test")
  end
end
